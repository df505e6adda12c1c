"""A LiveTable's rows alone (tui/app/widgets/table_model.py) and its column layout (table_layout.py), with no app:
insertion order, sorting whatever the values are, the filter over the cells' text, incremental and bulk
updates. What the widget adds (cursor, drawing) is tested in test_live_table.py."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from rich.text import Text

from tests.helpers.table_rows import COLUMNS, apply_changes, make_rows, random_changes
from tui.app.widgets.table_layout import AUTO_WIDTH_MIN, ColumnLayout, layout_columns, line_width
from tui.app.widgets.table_model import BULK_FRACTION, Column, TableModel, _orderable


def model_of(rows: dict[str, dict], columns=COLUMNS) -> TableModel:
    model = TableModel(columns)
    model.set_rows(rows)
    return model


def test_the_model_and_the_layout_import_no_textual():
    code = ("import sys, tui.app.widgets.table_model, tui.app.widgets.table_layout; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'textual'))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_unsorted_rows_keep_insertion_order_and_new_rows_go_last():
    model = model_of(make_rows(3))
    assert model.row_ids == ["r00000", "r00001", "r00002"] and model.row_count == model.total_count == 3
    added = model.update_rows({"r00001": {**make_rows(2)["r00001"], "status": "done"}, "new": {"id": "new"},
                               "r00000": None})
    assert added == ["new"]
    assert model.row_ids == ["r00001", "r00002", "new"] and model.get_row("r00000") is None
    assert model.get_row("r00001")["status"] == "done"
    assert model.update_rows({}) == []
    # a row removed and given again is new again: it goes last
    assert model.update_rows({"r00001": None}) == [] and model.update_rows({"r00001": {"id": "r00001"}}) == ["r00001"]
    assert model.row_ids == ["r00002", "new", "r00001"]


def test_a_row_version_changes_with_the_row_only():
    model = model_of(make_rows(3))
    before = {row_id: model.version(row_id) for row_id in model.row_ids}
    model.update_rows({"r00001": {"id": "r00001", "name": "x"}})
    assert model.version("r00001") != before["r00001"]
    assert model.version("r00000") == before["r00000"] and model.version("r00002") == before["r00002"]
    model.set_rows(make_rows(3))
    assert all(model.version(row_id) not in before.values() for row_id in model.row_ids)


def test_sort_is_case_insensitive_puts_none_last_and_reads_backwards_when_reversed():
    rows = {f"k{i}": {"id": f"k{i}", "name": name, "status": "x", "size": size}
            for i, (name, size) in enumerate([("beta", 3), ("Alpha", 10), ("gamma", None), ("delta", 2)])}
    model = model_of(rows)
    model.sort_by("name")
    assert (model.sort_column, model.sort_reverse, model.row_ids) == ("name", False, ["k1", "k0", "k3", "k2"])
    model.sort_by("name")  # the same column again: descending
    assert model.sort_reverse and model.row_ids == ["k2", "k3", "k0", "k1"]
    assert [model.row_at(i) for i in range(4)] == model.row_ids
    assert [model.position(row_id) for row_id in model.row_ids] == [0, 1, 2, 3]
    model.sort_by("size", reverse=False)
    assert model.row_ids == ["k3", "k0", "k1", "k2"]
    model.sort_by(None)
    assert (model.sort_column, model.row_ids) == (None, ["k0", "k1", "k2", "k3"])
    with pytest.raises(KeyError):
        model.sort_by("nope")


def test_sort_key_decides_and_a_computed_column_sorts_on_its_raw_value_or_text():
    columns = [*COLUMNS, Column("age", "Age", render=lambda row: f"{row['size']}s", sort_key=lambda row: -row["size"]),
               Column("label", "Label", render=lambda row: f"#{20 - row['size']}")]
    model = model_of(make_rows(12), columns)
    model.sort_by("age")
    assert model.row_ids[0] == "r00011"
    model.sort_by("label")  # no such key in the rows: the rendered text, so "#10" < "#11" < ... < "#20" < "#9"
    assert model.row_ids[:3] == ["r00010", "r00009", "r00008"] and model.row_ids[-2:] == ["r00000", "r00011"]
    model.sort_by("status")  # the row's own value, not the rendered Text
    assert model.row_ids == sorted(model.row_ids, key=lambda row_id: (model.get_row(row_id)["status"], row_id))


def test_values_of_every_kind_sort_together_numbers_text_tuples_then_none_and_nan():
    values = ["b", 2, None, float("nan"), "A", 1.5, (1, "x"), True, object.__new__(type("Odd", (), {}))]
    model = model_of({str(i): {"id": str(i), "size": value} for i, value in enumerate(values)})
    model.sort_by("size")
    ranks = [_orderable(model.get_row(row_id)["size"])[0] for row_id in model.row_ids]
    assert ranks == sorted(ranks) and ranks[-2:] == [9, 9]
    assert [model.get_row(row_id)["size"] for row_id in model.row_ids[:3]] == [True, 1.5, 2]
    # a first value of another kind arriving in a sorted column of one kind keeps the order right
    model = model_of({str(i): {"id": str(i), "size": i} for i in range(50)})
    model.sort_by("size", reverse=True)
    model.update_rows({"none": {"id": "none", "size": None}, "text": {"id": "text", "size": "z"}})
    assert model.row_ids[:2] == ["none", "text"] and model.row_ids[2:5] == ["49", "48", "47"]


def test_a_sort_key_that_raises_sorts_the_row_last_and_the_cell_shows_a_placeholder():
    columns = [Column("id", "ID"), Column("x", "X", render=lambda row: f"{1 / row['d']:.1f}",
                                          sort_key=lambda row: 1 / row["d"])]
    model = model_of({"a": {"id": "a", "d": 0}, "b": {"id": "b", "d": 2}, "c": {"id": "c", "d": 4}}, columns)
    model.sort_by("x")
    assert model.row_ids == ["c", "b", "a"]
    assert model.search_text("a") == "a\t?"
    model.update_rows({"d": {"id": "d", "d": 0}, "e": {"id": "e", "d": 1}})
    assert model.row_ids[:3] == ["c", "b", "e"] and set(model.row_ids[3:]) == {"a", "d"}


def test_filter_matches_the_cells_text_case_insensitively_and_follows_row_changes():
    rows = make_rows(30)
    rows["r00007"]["status"] = "FAILED"
    model = model_of(rows)
    assert model.set_filter("failed") and model.row_ids == ["r00007"]  # the rendered Status, another case
    assert not model.set_filter("FAILED")  # the same filter: nothing to do
    assert model.set_filter("file-1") and model.filter_text == "file-1"
    assert model.row_ids == ["r00001"] + [f"r{i:05d}" for i in range(10, 20)]
    assert model.row_count == 11 and model.total_count == 30
    model.set_filter("file-1.")  # narrowing from the previous view
    assert model.row_ids == ["r00001"] and model.position("r00002") is None
    model.update_rows({"r00003": {**rows["r00003"], "name": "file-1.txt"}, "r00001": {**rows["r00001"], "name": "x"}})
    assert model.row_ids == ["r00003"]
    model.set_filter("")
    assert model.row_count == 30


def test_search_text_is_sanitized_and_markup_stays_text():
    model = model_of({
        "m": {"id": "m", "name": "[@click=app.quit]x[/]", "status": "[b]bo[/b]", "size": 1},
        "e": {"id": "e", "name": "\x1b]0;t\x07Title\x1b[31mRed", "status": "a\nb", "size": 2},
    })
    assert model.search_text("m") == "m\t[@click=app.quit]x[/]\t[b]bo[/b]\t1"
    assert model.search_text("e") == "e\ttitlered\ta b\t2"
    model.set_filter("[@CLICK")
    assert model.row_ids == ["m"]
    model.set_filter("\x1b[31m")  # a filter is sanitized as the cells are: an escape alone is no filter
    assert model.filter_text == "" and model.row_count == 2


def test_search_strings_can_be_built_ahead_in_slices():
    model = model_of(make_rows(1000))
    ids = list(model.rows)
    model.index_search(ids[:500] + ["gone"])  # an id no longer there is skipped
    assert len(model._search) == 500
    model.index_search(ids)
    assert len(model._search) == 1000
    assert model.set_filter("file-99") and model.row_ids == ["r00099", *[f"r{i:05d}" for i in range(990, 1000)]]


def test_incremental_updates_match_a_full_rebuild():
    """Random upserts and removals under a sort and a filter, each applied in place (binary searches): the view
    is always what a fresh model given the same rows shows."""
    rng = random.Random(5)
    model, rows = model_of(make_rows(300)), make_rows(300)
    for sort, reverse, text in (("size", True, "1"), (None, False, "2"), ("name", False, "")):
        model.sort_by(sort, reverse)
        model.set_filter(text)
        for _ in range(200):
            changed = random_changes(rng)
            assert len(changed) <= max(64, model.total_count // BULK_FRACTION)  # the incremental path
            model.update_rows(changed)
            apply_changes(rows, changed)
            fresh = model_of(rows)
            fresh.sort_by(sort, reverse)
            fresh.set_filter(text)
            if sort is None:
                # unsorted is insertion order: a fresh model numbers the rows in the dict's order, which puts a
                # removed and re-added row where it was first inserted; compare as sets, and order by position
                assert set(model.row_ids) == set(fresh.row_ids)
            else:
                ranks = [_orderable(rows[row_id][sort]) for row_id in model.row_ids]
                assert ranks == sorted(ranks, reverse=reverse) and set(model.row_ids) == set(fresh.row_ids)
            assert [model.position(row_id) for row_id in model.row_ids] == list(range(model.row_count))


def test_a_bulk_update_leaves_the_table_as_row_by_row_updates_do():
    """A batch changing many rows takes the bulk path (dictionaries at once, one re-sort); the same changes one
    row at a time take the incremental one. Both must end with the same rows, the same order and ids: for a
    log-like table (no sort, new rows last, the oldest evicted) and under a sort and a filter."""
    rng = random.Random(11)
    sizes = iter(rng.sample(range(1000, 10**6), 10_000))  # no ties: rows of equal keys may sit either way round
    for sort, text in ((None, ""), ("size", "1")):
        one_by_one, bulk = TableModel(COLUMNS), TableModel(COLUMNS)
        for model in (one_by_one, bulk):
            model.set_rows(make_rows(500))
            model.sort_by(sort)
            model.set_filter(text)
        for step in range(6):
            changed: dict = {f"r{n:05d}": None for n in rng.sample(range(500 + step * 300), 150)}
            changed.update((f"n{step}-{n:04d}", {"id": f"n{step}-{n:04d}", "name": f"new-{n}", "status": "",
                                                 "size": next(sizes)}) for n in range(300))
            changed.update((row_id, {**row, "size": next(sizes)}) for row_id, row in
                           rng.sample(sorted(make_rows(500).items()), 40))
            added_one_by_one = [row_id for row_id, row in changed.items()
                                for row_id in one_by_one.update_rows({row_id: row})]
            assert bulk.update_rows(changed) == added_one_by_one
            assert bulk.row_ids == one_by_one.row_ids
            assert all(bulk.get_row(row_id) == one_by_one.get_row(row_id) for row_id in bulk.row_ids)
            assert bulk.total_count == one_by_one.total_count
        if sort is None and not text:  # new rows go after the older ones, in the order they came
            ids = bulk.row_ids
            assert [row_id for row_id in ids if row_id.startswith("n5-")] == [f"n5-{n:04d}" for n in range(300)]
            assert ids.index("n5-0000") > max(i for i, row_id in enumerate(ids) if row_id.startswith("n4-"))


# ------------------------------------------------------------------------------------------------ layout


def test_layout_gives_fixed_columns_their_width_and_shares_or_squeezes_the_rest():
    columns = (Column("a", "A", width=6), Column("b", "B"), Column("c", "C"))
    # a line is a space, then each cell and a space: 1 + (6+1) + (10+1) + (12+1) = 32
    assert line_width(layout_columns(columns, [3, 10, 12], 32)) == 32
    assert layout_columns(columns, [3, 10, 12], 32) == (6, 10, 12)
    assert layout_columns(columns, [3, 10, 12], 37) == (6, 13, 14)  # the spare 5: 3 to the first auto column
    assert layout_columns(columns, [3, 10, 12], 28) == (6, 10, 8)  # the rightmost auto column gives first
    assert layout_columns(columns, [3, 10, 12], 0) == (6, AUTO_WIDTH_MIN, AUTO_WIDTH_MIN)  # never below the floor
    assert layout_columns(columns, [3, 5, 12], 0) == (6, 5, AUTO_WIDTH_MIN)  # ... or its natural width


def test_a_column_that_does_not_grow_takes_its_whole_text_and_leaves_the_spare_to_the_others():
    """The Capx companies' Status (`running ◐ reconnecting`) next to the Company name: the status whole before the
    name gets room to spare; narrow, it gives way first (its priority is lower), down to its minimum."""
    columns = (Column("name", "Company", priority=4, min_width=16),
               Column("status", "Status", priority=3, min_width=10, grow=False), Column("n", "N", width=5))
    natural = [20, 22, 5]
    # a line: 1 + (name + 1) + (status + 1) + (5 + 1)
    assert layout_columns(columns, natural, 100) == (69, 22, 5)  # the spare to the name; the status whole
    assert layout_columns(columns, natural, 51) == (20, 22, 5)  # just room for both whole
    assert layout_columns(columns, natural, 45) == (20, 16, 5)  # narrower: the status is cut first
    assert layout_columns(columns, natural, 38) == (19, 10, 5)  # ... to its 10, then the name
    growing = tuple(Column(c.key, c.label, width=c.width, priority=c.priority, min_width=c.min_width) for c in columns)
    assert layout_columns(growing, natural, 100) == (45, 46, 5)  # (both growing: the spare shared evenly)


def test_hidden_columns_are_not_shown_at_any_width_and_give_their_room():
    columns = (Column("a", "A", width=6, priority=3), Column("b", "B", width=8, priority=4), Column("c", "C"))
    assert layout_columns(columns, [1, 8, 12], 40) == (6, 8, 22)
    assert layout_columns(columns, [1, 8, 12], 40, frozenset({"a", "b"})) == (0, 0, 38)  # their room to C
    assert layout_columns(columns, [1, 8, 12], 20) == (6, 8, 0)  # narrow: C, the lowest, gives way
    assert layout_columns(columns, [1, 8, 12], 20, frozenset({"b"})) == (6, 0, 11)  # ... not with B hidden
    layout = ColumnLayout(columns)
    assert layout.widths(40)[0] == 6
    assert layout.hide(frozenset({"a"})) and not layout.hide(frozenset({"a"}))  # (the second: no change)
    assert layout.widths(40)[0] == 0  # not the width it had before
    assert layout.hide(frozenset()) and layout.widths(40)[0] == 6


def test_auto_columns_widen_to_their_rows_until_reset():
    layout = ColumnLayout((Column("id", "ID", width=4), Column("name", "Name"),
                           Column("status", "Status", render=lambda row: Text(row["status"] * 2))))
    assert layout.natural == [4, 6, 8]  # the labels and room for the sort arrow
    layout.widen([{"id": "a", "name": "日本語", "status": "ok"}, {"id": "b", "name": "x" * 100, "status": "abcdef"}])
    assert layout.natural == [4, 48, 12]  # wide characters count twice; a long value asks for 48 at most
    assert layout.widths(0) == (4, 8, 8) and layout.widths(200)[0] == 4
    assert layout.column_at(0, 200).key == "id" and layout.column_at(6, 200).key == "name"
    layout.reset()
    assert layout.natural == [4, 6, 8]
