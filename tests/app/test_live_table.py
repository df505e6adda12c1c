"""LiveTable: what it shows, how it filters and sorts, where the cursor goes, what it posts, and that it stays
virtual (only visible lines are rendered) at 100k rows. Each test drives a real headless app at 80x24; its rows
alone (order, sort, filter, search text, no app) are tested in test_table_model.py."""

from __future__ import annotations

import random
import time

from textual.app import App, ComposeResult
from textual.strip import Strip

from tests.helpers.table_rows import COLUMNS, apply_changes, make_rows, random_changes
from tui.app.widgets.table import Column, LiveTable
from tui.app.widgets.table_model import _orderable


class CountingTable(LiveTable):
    """Counts render_line calls and rows actually built (cache misses)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.render_calls = 0
        self.rows_built = 0

    def render_line(self, y: int) -> Strip:
        self.render_calls += 1
        return super().render_line(y)

    def _line_strip(self, *args):
        self.rows_built += 1
        return super()._line_strip(*args)


class TableApp(App):
    def __init__(self, columns=COLUMNS, **table_options) -> None:
        super().__init__()
        self.table = CountingTable(columns, **table_options)
        self.messages: list = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_mount(self) -> None:
        self.table.focus()

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        self.messages.append(message)

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        self.messages.append(message)

    def on_live_table_copy_requested(self, message: LiveTable.CopyRequested) -> None:
        self.messages.append(message)

    def on_live_table_follow_changed(self, message: LiveTable.FollowChanged) -> None:
        self.messages.append(message)


def lines(table: LiveTable) -> list[str]:
    """The table as the screen shows it now."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


def body(table: LiveTable) -> str:
    return "\n".join(lines(table))


def shown_ids(table: LiveTable) -> list[str]:
    """The ids of the rows on screen (the lines between the header and the foot, when there is one)."""
    shown = lines(table)
    return [line.split()[0] for line in shown[1:len(shown) - table.foot_lines()] if line.strip()]


async def test_rows_appear_with_header_and_padded_cells():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(3))
        await pilot.pause()
        header, *rows = lines(app.table)
        assert header.split() == ["ID", "Name", "Status", "Size"]
        assert rows[0].split() == ["r00000", "file-0.pdf", "queued", "0"]
        assert rows[3].strip() == ""
        # every line is exactly as wide as the content region; the right-aligned column ends at its edge
        width = app.table.scrollable_content_region.width
        assert {len(line) for line in lines(app.table)} == {width}
        assert header.index("Size") + len("Size") == rows[2].index(" 2 ") + 2
        assert app.table.cursor_row_id == "r00000"


async def test_update_rows_changes_a_cell_inserts_and_removes():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(3))
        await pilot.pause()
        app.table.update_rows({
            "r00001": {"id": "r00001", "name": "file-1.pdf", "status": "completed", "size": 1},
            "r00002": None,
            "new": {"id": "new", "name": "late.pdf", "status": "queued", "size": 9},
        })
        await pilot.pause()
        text = body(app.table)
        assert "completed" in text and "r00002" not in text
        assert shown_ids(app.table) == ["r00000", "r00001", "new"]
        # and the real screen shows the change too, not only render_line
        assert "completed" in app.export_screenshot()


async def test_filter_narrows_and_clears_case_insensitively_over_rendered_text():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        rows = make_rows(30)
        rows["r00007"]["status"] = "FAILED"
        app.table.set_rows(rows)
        app.table.filter_text = "failed"  # matches the rendered Status column, in another case
        await pilot.pause()
        assert shown_ids(app.table) == ["r00007"]
        assert app.table.row_count == 1 and app.table.cursor_row_id == "r00007"
        app.table.filter_text = "file-1"
        assert app.table.row_ids == ["r00001"] + [f"r{i:05d}" for i in range(10, 20)]
        app.table.filter_text = "file-1."  # narrowing from the previous view
        assert app.table.row_ids == ["r00001"]
        # a filtered-out row that changes to match appears; a shown one that stops matching goes
        app.table.update_rows({"r00003": {**rows["r00003"], "name": "file-1.txt"},
                               "r00001": {**rows["r00001"], "name": "other"}})
        assert app.table.row_ids == ["r00003"]
        app.table.filter_text = ""
        await pilot.pause()
        assert app.table.row_count == 30
        assert shown_ids(app.table)[:3] == ["r00000", "r00001", "r00002"]


async def test_sort_ascending_descending_toggle_and_header_click():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        rows = {f"k{i}": {"id": f"k{i}", "name": name, "status": "x", "size": size}
                for i, (name, size) in enumerate([("beta", 3), ("Alpha", 10), ("gamma", None), ("delta", 2)])}
        app.table.set_rows(rows)
        app.table.sort_by("name")
        assert app.table.row_ids == ["k1", "k0", "k3", "k2"]  # case-insensitive
        app.table.sort_by("name")  # the same column again: descending
        assert app.table.sort_reverse and app.table.row_ids == ["k2", "k3", "k0", "k1"]
        app.table.sort_by("size", reverse=False)  # numbers by value, None last
        assert app.table.row_ids == ["k3", "k0", "k1", "k2"]
        await pilot.pause()
        assert "Size ▲" in lines(app.table)[0]
        # clicking the Name header sorts by it; clicking again reverses
        x = lines(app.table)[0].index("Name")
        await pilot.click(LiveTable, offset=(x, 0))
        assert (app.table.sort_column, app.table.sort_reverse) == ("name", False)
        await pilot.click(LiveTable, offset=(x, 0))
        assert (app.table.sort_column, app.table.sort_reverse) == ("name", True)
        await pilot.pause()
        assert "Name ▼" in lines(app.table)[0]
        assert shown_ids(app.table) == ["k2", "k3", "k0", "k1"]


async def test_sort_key_cycle_and_reverse_keys():
    columns = [*COLUMNS, Column("age", "Age", width=5, render=lambda row: f"{row['size']}s",
                                sort_key=lambda row: -row["size"])]
    app = TableApp(columns)
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(5))
        app.table.sort_by("age")
        assert app.table.row_ids[0] == "r00004"  # sort_key decides, not the rendered text
        app.table.sort_by(None)
        await pilot.press("s")
        assert (app.table.sort_column, app.table.sort_reverse) == ("id", False)
        await pilot.press("s", "s")
        assert app.table.sort_column == "status"
        await pilot.press("S")
        assert (app.table.sort_column, app.table.sort_reverse) == ("status", True)


async def test_cursor_follows_its_row_id_across_resort_and_updates():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(50))
        await pilot.press("down", "down", "down")
        assert (app.table.cursor_row_id, app.table.cursor_index) == ("r00003", 3)
        app.table.sort_by("size", reverse=True)
        assert (app.table.cursor_row_id, app.table.cursor_index) == ("r00003", 46)
        await pilot.pause()
        assert "r00003" in shown_ids(app.table)  # the sort scrolled it into view
        # a row sorting above it pushes it down one line; it stays on the same row id
        app.table.update_rows({"top": {"id": "top", "name": "t", "status": "", "size": 999}})
        assert (app.table.cursor_row_id, app.table.cursor_index) == ("r00003", 47)
        # the cursor row itself moving keeps the cursor on it
        app.table.update_rows({"r00003": {"id": "r00003", "name": "x", "status": "", "size": 1000}})
        assert (app.table.cursor_row_id, app.table.cursor_index) == ("r00003", 0)
        # when the cursor row is removed the cursor takes the row now at its place
        app.table.update_rows({"r00003": None})
        assert (app.table.cursor_row_id, app.table.cursor_index) == ("top", 0)
        await pilot.pause()
        moved = [m.row_id for m in app.messages if isinstance(m, LiveTable.CursorMoved)]
        assert moved[-1] == "top" and "r00003" in moved


async def test_navigation_keys():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(100))
        page = app.table.scrollable_content_region.height - 1
        await pilot.press("pagedown")
        assert app.table.cursor_index == page
        await pilot.press("end")
        assert app.table.cursor_row_id == "r00099"
        await pilot.pause()
        assert shown_ids(app.table)[-1] == "r00099"
        await pilot.press("pageup", "up")
        assert app.table.cursor_index == 99 - page - 1
        await pilot.press("home")
        assert app.table.cursor_index == 0 and app.table.scroll_y == 0


async def test_enter_posts_row_selected_and_y_copies_the_id():
    app = TableApp()
    copied: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.copy_to_clipboard = copied.append  # the OSC 52 write, recorded
        app.table.set_rows(make_rows(5))
        await pilot.press("down", "enter", "y")
        await pilot.pause()
        selected = [m for m in app.messages if isinstance(m, LiveTable.RowSelected)]
        assert [(m.row_id, m.row["name"], m.table) for m in selected] == [("r00001", "file-1.pdf", app.table)]
        assert copied == ["r00001"]
        assert [m.row_id for m in app.messages if isinstance(m, LiveTable.CopyRequested)] == ["r00001"]
        assert any("r00001" in str(n.message) for n in app._notifications)
        # a click on the cursor row opens it too
        await pilot.click(LiveTable, offset=(3, 2))
        await pilot.pause()
        assert [m.row_id for m in app.messages if isinstance(m, LiveTable.RowSelected)][-1] == "r00001"
        bindings = {b.key: b.description for b in LiveTable.BINDINGS}
        assert (bindings["enter"], bindings["y"], bindings["s"]) == ("Open", "Copy id", "Sort")


async def test_markup_and_escape_sequences_render_inert():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows({
            "m": {"id": "m", "name": "[@click=app.quit]x[/]", "status": "[b]bo[/b]", "size": 1},
            "e": {"id": "e", "name": "\x1b]0;t\x07title\x1b[31mred", "status": "a\nb", "size": 2},
        })
        app.table.filter_text = "[@click"
        assert app.table.row_ids == ["m"]
        app.table.filter_text = ""
        await pilot.pause()
        text = body(app.table)
        assert "[@click=app.quit]x[/]" in text and "[b]bo[/b]" in text
        assert "titlered" in text and "a b" in text
        assert "\x1b" not in text and "\x07" not in text
        for y in range(1, 3):
            assert all(not (segment.style and segment.style.meta) for segment in app.table.render_line(y))
        screenshot = app.export_screenshot()
        assert "[@click=app.quit]x[/]" in screenshot
        assert "\x1b" not in screenshot and "\x07" not in screenshot and "]0;t" not in screenshot


async def test_truncation_uses_cell_widths():
    columns = [Column("id", "ID", width=4), Column("name", "Name", width=6), Column("n", "N", width=3)]
    app = TableApp(columns)
    async with app.run_test(size=(40, 10)) as pilot:
        app.table.set_rows({"a": {"id": "a", "name": "日本語のファイル", "n": 1},
                            "b": {"id": "bbbbbbbb", "name": "x", "n": 2}})
        await pilot.pause()
        strip = app.table.render_line(1)
        assert strip.cell_length == app.table.scrollable_content_region.width
        # a wide character is never cut in half: "日本" then a pad cell, then the ellipsis
        assert "日本" in strip.text and "…" in strip.text and "語" not in strip.text
        assert "bbb…" in app.table.render_line(2).text


async def test_follow_mode_moves_to_the_newest_row():
    app = TableApp(follow=True)
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(100))
        assert app.table.cursor_row_id == "r00099"
        app.table.update_rows({"z": {"id": "z", "name": "new", "status": "", "size": 0}})
        await pilot.pause()
        assert app.table.cursor_row_id == "z" and shown_ids(app.table)[-1] == "z"


async def test_following_the_newest_row_stays_in_sight_when_the_table_gets_shorter():
    """Seen at 80x24: the Events tab's alerts view, shown with the alert's lines under it, went on showing the older
    alerts (the table had scrolled to its end while it was taller) until a key moved the cursor."""
    app = TableApp(follow=True)
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(20))
        await pilot.pause()
        assert shown_ids(app.table)[-1] == "r00019"  # all of them fit
        app.table.styles.height = 10
        await pilot.pause()
        assert app.table.cursor_row_id == "r00019" and shown_ids(app.table)[-1] == "r00019"
        app.table.set_follow(False)
        app.table.scroll_to(y=0, animate=False, force=True)  # the wheel, up: the cursor stays on the newest
        await pilot.pause()
        app.table.styles.height = 8
        await pilot.pause()
        assert shown_ids(app.table)[0] == "r00000"  # not following: the view stays where the operator put it


async def test_incremental_updates_match_a_full_rebuild():
    """Random upserts and removals under a sort and a filter: the view is always the matching rows, ordered."""
    rng = random.Random(3)
    app = TableApp()
    async with app.run_test(size=(80, 24)):
        table = app.table
        model = make_rows(300)
        table.set_rows(model)
        table.sort_by("size", reverse=True)
        table.filter_text = "1"
        for step in range(300):
            changed = random_changes(rng)
            table.update_rows(changed)
            apply_changes(model, changed)
            if step == 150:
                table.filter_text = ""
            expected = {row_id for row_id, row in model.items() if "1" in table.model.search_text(row_id)} \
                if table.filter_text else set(model)
            ids = table.row_ids
            assert set(ids) == expected and len(ids) == len(expected)
            ranks = [_orderable(model[row_id]["size"]) for row_id in ids]
            assert ranks == sorted(ranks, reverse=True)
            if table.cursor_row_id is not None:
                assert ids[table.cursor_index] == table.cursor_row_id


async def test_100k_rows_render_only_visible_lines():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        rows = make_rows(100_000)
        started = time.perf_counter()
        table.set_rows(rows)
        await pilot.pause()
        elapsed = time.perf_counter() - started
        height = table.scrollable_content_region.height
        assert table.row_count == 100_000
        assert shown_ids(table)[:2] == ["r00000", "r00001"]
        assert table.rows_built <= 2 * height  # rows on screen (and a header), not 100k
        assert table.render_calls < 10 * height
        assert elapsed < 3.0  # a generous bound: it is ~0.05 s; a per-row widget would take seconds
        # scrolling to the end builds only the new page
        built = table.rows_built
        await pilot.press("end")
        await pilot.pause()
        assert shown_ids(table)[-1] == "r99999"
        assert table.rows_built - built <= 2 * height
        # a repaint of an unchanged screen builds nothing
        built = table.rows_built
        table.refresh()
        await pilot.pause()
        assert table.rows_built == built
        # an update off screen costs no row building either; one on screen rebuilds just that row
        table.update_rows({"r00005": {**rows["r00005"], "status": "completed"}})
        table.update_rows({"r99999": {**rows["r99999"], "status": "completed"}})
        await pilot.pause()
        assert table.rows_built - built == 1
        assert "completed" in lines(table)[-1] or "completed" in body(table)


async def test_scrolled_view_keeps_the_cursor_on_its_screen_line_while_rows_arrive_above():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(200))
        app.table.sort_by("size", reverse=True)
        await pilot.press("pagedown", "pagedown", "down")
        await pilot.pause()
        row_id, line = app.table.cursor_row_id, shown_ids(app.table).index(app.table.cursor_row_id)
        app.table.update_rows({f"new{i}": {"id": f"new{i}", "name": "n", "status": "", "size": 1000 + i}
                               for i in range(5)})
        await pilot.pause()
        assert app.table.cursor_row_id == row_id
        assert shown_ids(app.table).index(row_id) == line
        # at the top of the view, new rows come into sight instead
        await pilot.press("home")
        app.table.update_rows({"newest": {"id": "newest", "name": "n", "status": "", "size": 5000}})
        await pilot.pause()
        assert shown_ids(app.table)[0] == "newest" and app.table.cursor_index == 1


async def test_a_column_that_raises_on_a_row_shows_a_placeholder_and_sorts_last():
    columns = [Column("id", "ID", width=6),
               Column("x", "X", width=6, render=lambda row: f"{1 / row['d']:.1f}", sort_key=lambda row: 1 / row["d"])]
    app = TableApp(columns)
    async with app.run_test(size=(40, 8)) as pilot:
        app.table.set_rows({"a": {"id": "a", "d": 0}, "b": {"id": "b", "d": 2}, "c": {"id": "c", "d": 4}})
        app.table.sort_by("x")
        await pilot.pause()
        assert app.table.row_ids == ["c", "b", "a"]
        assert [line.split() for line in lines(app.table)[1:4]] == [["c", "0.2"], ["b", "0.5"], ["a", "?"]]


# ------------------------------------------------------------------------------------------------ following, news


def new_rows(first: int, count: int, *, size: int = 10_000) -> dict[str, dict]:
    return {f"n{i:03d}": {"id": f"n{i:03d}", "name": f"new-{i}.pdf", "status": "", "size": size + i}
            for i in range(first, first + count)}


async def test_rows_arriving_above_a_scrolled_view_are_counted_in_the_header_until_seen():
    app = TableApp(newest_at="top")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(200))
        table.sort_by("size", reverse=True)  # newest (largest) first
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        assert table.new_above == 0 and "new ↑" not in lines(table)[0]
        table.update_rows(new_rows(0, 3))
        await pilot.pause()
        assert table.new_above == 3 and lines(table)[0].rstrip().endswith("3 new ↑  Home")
        assert "n000" not in shown_ids(table)  # the view did not move to them
        table.update_rows(new_rows(3, 2))
        await pilot.pause()
        assert "5 new ↑" in lines(table)[0]
        # A click on the marker shows them, and the count goes.
        await pilot.click(CountingTable, offset=(table.scrollable_content_region.width - 3, 0))
        await pilot.pause()
        assert table.new_above == 0 and "new ↑" not in lines(table)[0] and shown_ids(table)[0] == "n004"
        # At the top, new rows come into sight: nothing to count.
        table.update_rows(new_rows(5, 2))
        await pilot.pause()
        assert table.new_above == 0 and shown_ids(table)[0] == "n006"


async def test_rows_arriving_below_when_not_following_are_counted_in_the_foot():
    app = TableApp()  # insertion order: new rows arrive at the bottom
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(100))
        await pilot.press("home")
        table.update_rows(new_rows(0, 4))
        await pilot.pause()
        assert table.new_below == 4 and lines(table)[-1].strip().startswith("4 new ↓  End")
        await pilot.press("end")  # the bottom: seen
        await pilot.pause()
        assert table.new_below == 0 and table.foot_lines() == 0


async def test_follow_keeps_the_cursor_at_the_newest_edge_until_the_operator_moves_away():
    app = TableApp(newest_at="top", follow=False)
    app.table.can_follow = True
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(50))
        table.sort_by("size", reverse=True)
        await pilot.press("down", "down")
        await pilot.press("home")  # the edge key of a newest-at-top table follows
        await pilot.pause()
        assert table.follow and table.cursor_index == 0
        assert "● following" in lines(table)[-1]
        table.update_rows(new_rows(0, 2))
        await pilot.pause()
        assert table.cursor_row_id == "n001" and table.cursor_index == 0  # on the newest, at the top
        await pilot.press("down")  # away from the edge: stops following
        assert not table.follow and table.cursor_row_id == "n000"
        table.update_rows(new_rows(2, 1))
        await pilot.pause()
        assert table.cursor_row_id == "n000"
        await pilot.press("f")
        assert table.follow and table.cursor_row_id == "n002"
        assert [m.follow for m in app.messages if isinstance(m, LiveTable.FollowChanged)] == [True, False, True]


async def test_a_filter_shows_its_counts_and_says_when_nothing_matches():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(30))
        table.filter_text = "file-1"
        await pilot.pause()
        assert lines(table)[-1].strip() == "11 of 30 match “file-1”"  # file-1, file-10 ... file-19
        table.filter_text = "zzz"
        await pilot.pause()
        assert lines(table)[1].strip() == "no rows match “zzz” · Esc clears the filter"
        assert lines(table)[-1].strip() == "0 of 30 match “zzz”"
        table.filter_text = ""
        await pilot.pause()
        assert table.foot_lines() == 0 and "match" not in body(table)


async def test_rows_added_to_a_table_of_fixed_height_tell_its_scrollbar_without_a_layout_of_the_screen():
    """A layout is of the whole screen; Textual asks for one on every change of a widget's virtual size. Under load
    a batch of new documents changed it on most frames (107 layouts in 15 s): a table whose height is the
    stylesheet's needs only its scrollbar told, and a layout only when a scrollbar comes or goes."""
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.styles.height = 10
        app.table.set_rows(make_rows(5))
        await pilot.pause()
        layouts = []
        refresh_layout = app.screen._refresh_layout
        app.screen._refresh_layout = lambda *a, **k: (layouts.append(1), refresh_layout(*a, **k))[1]
        app.table.update_rows(dict(make_rows(30)))  # the scrollbar comes: a layout
        await pilot.pause()
        assert app.table.show_vertical_scrollbar and len(layouts) >= 1
        layouts.clear()
        app.table.update_rows({f"n{n}": {"id": f"n{n}", "name": "new", "status": "", "size": n} for n in range(7)})
        await pilot.pause()
        assert layouts == []
        height = 37 + 1 + app.table.foot_lines()  # the rows, the header, the foot ("7 new ↓")
        assert app.table.virtual_size.height == height == app.table.vertical_scrollbar.window_virtual_size
        app.table.scroll_end(animate=False)
        await pilot.pause()
        # (seen, the foot goes: a scrollbar stays, so still no layout)
        assert app.table.max_scroll_y == app.table.virtual_size.height - app.table.scrollable_content_region.height
        assert round(app.table.scroll_y) == app.table.max_scroll_y  # the new last rows can be scrolled to
        last = app.table.model.row_at(app.table.model.row_count - 1)
        assert shown_ids(app.table)[-1] == last and layouts == []


# ------------------------------------------------------------------------------------------------ what the operator saw


async def test_the_operators_keys_act_on_the_row_drawn_under_the_cursor_not_one_following_moved_it_to():
    """Following moves the cursor as rows arrive; between two frames the screen still shows the row it was on. Enter,
    `y`, a click and a cursor key are about what the screen shows (tests/app/test_cursor_seen.py: the alert lists)."""
    app = TableApp(newest_at="top", follow=True)
    app.table.can_follow = True
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(20))
        table.sort_by("size", reverse=True)  # the newest (largest) first
        await pilot.pause()
        assert table.cursor_row_id == table.chosen_row_id == "r00019"
        with app.batch_update():  # no frame
            table.update_rows(new_rows(0, 1))
            assert table.cursor_row_id == "n000" and table.chosen_row_id == "r00019"
            await pilot.press("enter", "y")
            assert [m.row_id for m in app.messages if isinstance(m, (LiveTable.RowSelected, LiveTable.CopyRequested))
                    ] == ["r00019", "r00019"]
            await pilot.press("down")  # from the row seen (r00019), not from the one following put the cursor on
            assert table.cursor_row_id == table.chosen_row_id == "r00018" and not table.follow
        await pilot.pause()
        # A click is on the row drawn on that line, though rows arrived above it since the frame.
        with app.batch_update():
            table.update_rows(new_rows(1, 2))  # at the top, in sight: the rows move down a line each
            await pilot.click(CountingTable, offset=(3, 4))  # the line that showed r00017 (header, n000, r00019, ...)
            assert table.cursor_row_id == "r00017"
        await pilot.pause()
        assert table.chosen_row_id == "r00017"


async def test_any_cursor_key_stops_following_even_towards_the_newest():
    app = TableApp(follow=True)  # the newest at the bottom, as the Events tab's timeline
    app.table.can_follow = True
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(50))
        await pilot.pause()
        assert table.follow and table.cursor_row_id == "r00049"
        await pilot.press("down")  # towards the newest: the operator moved, so it no longer follows
        assert not table.follow and table.cursor_row_id == "r00049"
        table.update_rows(new_rows(0, 30))  # out of sight below: counted
        await pilot.pause()
        assert table.cursor_row_id == "r00049" and table.new_below == 30
        await pilot.press("end")  # the edge key follows again
        assert table.follow and table.cursor_row_id == "n029"


async def test_a_view_made_again_from_a_log_counts_what_came_out_of_sight():
    """The Events tab's alerts view is made again from the alert log as it grows (`set_rows(arrivals=True)`)."""
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(make_rows(100))
        await pilot.press("home")
        table.set_rows({**make_rows(100), **new_rows(0, 3)}, arrivals=True)
        await pilot.pause()
        assert table.new_below == 3 and lines(table)[-1].strip().startswith("3 new ↓  End")
        table.set_rows(make_rows(120))  # a view of other rows: nothing to point at
        assert table.new_below == 0


async def test_the_focus_coming_and_going_draws_the_cursors_line_again_and_no_other():
    """A tab switch moves the focus from one table to another; each line drawn is kept under the styles it was drawn
    with, so only the cursor's line (whose look the focus changes) is drawn again. The whole view was, ~10 ms of a
    switch under load."""
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(make_rows(100))
        await pilot.pause()
        focused = lines(app.table)
        cursor_focused = app.table.render_line(1)
        built = app.table.rows_built
        app.table.blur()
        await pilot.pause()
        assert lines(app.table) == focused  # the same text
        assert app.table.render_line(1) != cursor_focused  # the cursor's look changed with the focus
        assert app.table.rows_built - built == 1
        app.table.focus()
        await pilot.pause()
        assert app.table.render_line(1) == cursor_focused
        assert app.table.rows_built - built <= 2  # the focused cursor's line again (or from the cache)
