"""The Capx tab: every company with its live counts, and the selected company's agents, tasks, costs and
playbook runs; approve or reject tasks, pause or resume a company, run a playbook (each after a confirmation).

The counts per company (agents, open tasks, tasks awaiting approval) come from a `CompanyIndex` (capx_index.py)
kept up to date from the ids each batch names, so a frame where three tasks changed costs three index updates,
not a scan of every task of every company. The playbook chooser is capx_playbook.py.

A company whose activity stream lost its data's currency (reconnecting, failing, stale, failed: one of a fleet of
hundreds, tui/live/currency.py) is marked in its Status cell, `running ◐ reconnecting`, and in the line under the
table with since when: what is shown of it is as of then (the banner counts them; the tab is not dimmed)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, TabbedContent, TabPane

from tui import wall_clock
from tui.app.health_words import GLYPHS
from tui.app.keys import SettledTabs, focus_now
from tui.app.panes.base import Pane
from tui.app.panes.capx_budget import BUDGET, budget_text
from tui.app.panes.capx_index import AWAITING, COUNTERS, CompanyIndex
from tui.app.panes.capx_playbook import PlaybookScreen
from tui.app.screens import WindowKey
from tui.app.toolkit.actions import vendor_action
from tui.app.toolkit.cells import age, clean, clock, cost_share, cost_text, money, number, share_bar, status_text
from tui.app.toolkit.filter_box import FilterablePane, FilterBox
from tui.app.widgets.table import Column, LiveTable
from tui.live.currency import members_not_live
from tui.live.events import ChannelState, parse_timestamp
from tui.wall_clock import hms

# Known values, for colour only: an unknown status is shown as it comes, unstyled.
COMPANY_STATUS_STYLES = {"running": "green", "paused": "yellow", "stopped": "red"}
AGENT_STATUS_STYLES = {"idle": "dim", "working": "green", "error": "bold red"}
TASK_STATUS_STYLES = {"open": "", "in_progress": "cyan", "awaiting_approval": "bold reverse yellow",
                      "completed": "green", "rejected": "dim red"}
RUN_STATUS_STYLES = {"running": "yellow", "completed": "green", "failed": "bold red"}

STALE_HEARTBEAT = 120  # seconds without a heartbeat before the age turns yellow
SHARE_BAR = 16  # cells of the per-agent cost bar
UNATTRIBUTED = "\x00unattributed"  # the costs row of spend the last breakdown by agent did not have yet
DETAIL_TABS = ("agents", "tasks", "costs", "runs")
STATUS_WIDTH = max(map(len, COMPANY_STATUS_STYLES))  # "running", "stopped"
# A company's stream not live, failed too (its glyph and word say which): red read under 3:1 on the line under the
# table in two dark themes (tests/app/test_themes.py).
STREAM_STYLE = "yellow"


class CapxPane(FilterablePane, Pane):
    KINDS = frozenset({"companies", "agents", "tasks", "costs", "runs"})
    HELP_TITLE = "Capx"

    BINDINGS = [  # in the key bar's order: the actions an operator comes here for first
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("p", "pause", "Pause"),
        Binding("x", "run_playbook", "Playbook"),
        FilterablePane.FILTER_KEY,
        FilterablePane.CLEAR_KEY,
        Binding("R", "resync", "Resync company", show=False),
        Binding("right_square_bracket", "detail_tab(1)", "Next detail tab", key_display="]", show=False),
        Binding("left_square_bracket", "detail_tab(-1)", "Previous detail tab", key_display="[", show=False),
    ]

    def __init__(self, *children, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self.index = CompanyIndex()
        self.selected: str | None = None  # the company whose detail is shown
        # Companies whose activity stream is not live: id -> (its state, since when). Others are not in it.
        self.streams: dict[str, tuple[ChannelState, float]] = {}
        self._playbook_names: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static(id="capx-budget")
        yield LiveTable(self._company_columns(), id="capx-companies", name="companies")
        yield Static(id="capx-company-title")
        with SettledTabs(id="capx-detail"):
            with TabPane("Agents", id="capx-tab-agents"):
                yield LiveTable(self._agent_columns(), id="capx-agents", name="agents")
            with TabPane("Tasks", id="capx-tab-tasks"):
                yield LiveTable(self._task_columns(), id="capx-tasks", name="tasks")
            with TabPane("Costs", id="capx-tab-costs"):
                yield LiveTable(self._cost_columns(), id="capx-costs", name="costs")
            with TabPane("Runs", id="capx-tab-runs"):
                yield LiveTable(self._run_columns(), newest_at="top", id="capx-runs", name="runs")  # newest first
        # Last in the DOM (CSS docks it on top): a screen's auto-focus takes the first focusable widget, even
        # a hidden one, and that must be the companies table.
        yield FilterBox(id="capx-filter")

    def _company_columns(self) -> list[Column]:
        return [
            Column("name", "Company", priority=4, min_width=16,
                   render=lambda row: clean(row.get("name"), clean(row.get("id")))),
            # Its whole text (`running ◐ reconnecting`: its stream not live) before the name gets room to spare; at
            # 80 columns 10 cells, `running ◐…` (the words in full are found by the filter, and said with since when
            # in the line under the table for the company selected).
            Column("status", "Status", priority=3, min_width=10, grow=False, render=self._status_cell,
                   sort_key=lambda row: (row.get("_stream") is None, clean(row.get("status")))),
            Column("_agents", "Agents", width=10, align="right", priority=3, render=self._agents_cell),
            Column("_open", "Open", width=5, align="right", priority=2),
            Column("_awaiting", "Awaiting", width=8, align="right", priority=4, render=self._awaiting_cell),
            Column("_cost", "Cost / threshold", width=20, align="right", priority=3,
                   render=lambda row: cost_text(row.get("_cost"), row.get("monthly_budget_usd")),
                   sort_key=lambda row: cost_share(row.get("_cost"), row.get("monthly_budget_usd"))[2]),
        ]

    @staticmethod
    def _status_cell(row: dict[str, Any]) -> Text:
        """The company's status; then, when its stream is not live, the stream's glyph and state (after the longest
        known status, so the glyphs line up)."""
        text = status_text(row.get("status"), COMPANY_STATUS_STYLES)
        stream = row.get("_stream")
        if stream is not None:
            text.pad_right(max(0, STATUS_WIDTH - text.cell_len))
            text.append(f" {GLYPHS[stream]} {stream.value}", style=STREAM_STYLE)
        return text

    @staticmethod
    def _agents_cell(row: dict[str, Any]) -> Text:
        errors = row.get("_agent_errors") or 0
        text = Text(str(row.get("_agents", 0)))
        if errors:
            text.append(f" ({errors} err)", style="bold red")
        return text

    @staticmethod
    def _awaiting_cell(row: dict[str, Any]) -> Text:
        count = row.get("_awaiting") or 0
        return Text(str(count), style="bold reverse yellow") if count else Text("0", style="dim")

    def _agent_columns(self) -> list[Column]:
        return [
            Column("name", "Agent", priority=4, render=lambda row: clean(row.get("name"), clean(row.get("id")))),
            Column("role", "Role", priority=2, render=lambda row: clean(row.get("role"))),
            Column("status", "Status", width=8, priority=4,
                   render=lambda row: status_text(row.get("status"), AGENT_STATUS_STYLES)),
            Column("last_heartbeat_at", "Heartbeat", width=9, align="right", priority=3, render=self._heartbeat_cell,
                   sort_key=lambda row: -(parse_timestamp(row.get("last_heartbeat_at")) or 0)),
            # The last error stays after the agent recovers: red only while the agent is in error.
            Column("last_error", "Last error", priority=3, min_width=12, render=lambda row: Text(
                clean(row.get("last_error"), ""), style="red" if row.get("status") == "error" else "dim")),
        ]

    @staticmethod
    def _heartbeat_cell(row: dict[str, Any]) -> Text:
        moment = parse_timestamp(row.get("last_heartbeat_at"))
        stale = moment is not None and wall_clock.now() - moment > STALE_HEARTBEAT
        return Text(age(row.get("last_heartbeat_at"), ago=True), style="yellow" if stale else "")

    def _task_columns(self) -> list[Column]:
        def title(row: dict[str, Any]) -> Text:
            return Text(clean(row.get("title"), clean(row.get("id"))),
                        style="bold yellow" if row.get("status") == AWAITING else "")

        def awaiting_first(row: dict[str, Any]) -> tuple:
            return (row.get("status") != AWAITING, -(parse_timestamp(row.get("updated_at")) or 0))

        return [
            Column("title", "Task", priority=4, min_width=16, render=title),
            Column("status", "Status", width=17, priority=4,
                   render=lambda row: status_text(row.get("status"), TASK_STATUS_STYLES), sort_key=awaiting_first),
            Column("agent_id", "Agent", priority=2, render=lambda row: self._agent_name(row.get("agent_id"))),
            Column("updated_at", "Updated", width=8, align="right", priority=3,
                   render=lambda row: age(row.get("updated_at"), ago=True),
                   sort_key=lambda row: -(parse_timestamp(row.get("updated_at")) or 0)),
        ]

    def _cost_columns(self) -> list[Column]:
        return [
            Column("agent_id", "Agent", render=lambda row: self._agent_name(row.get("agent_id"))),
            Column("usd", "USD", width=11, align="right",
                   render=lambda row: "—" if number(row.get("usd")) is None else money(number(row.get("usd")), True)),
            Column("share", "Share", width=SHARE_BAR + 5,
                   render=lambda row: share_bar(row.get("share") or 0.0, SHARE_BAR)),
        ]

    def _run_columns(self) -> list[Column]:
        return [
            Column("id", "Run", priority=1, min_width=9, cut="start", render=lambda row: clean(row.get("id"))),
            Column("playbook_id", "Playbook", priority=4, render=lambda row: self._playbook_names.get(
                str(row.get("playbook_id")), clean(row.get("playbook_id")))),
            Column("status", "Status", width=9, priority=4,
                   render=lambda row: status_text(row.get("status"), RUN_STATUS_STYLES)),
            Column("started_at", "Started", width=8, priority=3, render=lambda row: clock(row.get("started_at")),
                   sort_key=lambda row: parse_timestamp(row.get("started_at")) or 0),
            Column("completed_at", "Completed", width=9, priority=2,
                   render=lambda row: clock(row.get("completed_at"))),
        ]

    def _agent_name(self, agent_id: Any) -> str:
        if not agent_id:
            return "—"
        if agent_id == UNATTRIBUTED:
            return "not yet by agent (re-reading)"
        agent = self.store.get("agents", str(agent_id))
        return clean(agent.get("name") if agent else None, clean(agent_id))

    def table(self, name: str) -> LiveTable:
        return self.query_one(f"#capx-{name}", LiveTable)

    def on_mount(self) -> None:
        self.table("agents").sort_by("name")
        self.table("tasks").sort_by("status")  # awaiting approval first, then the latest change
        self.table("runs").sort_by("started_at", reverse=True)
        self.table("costs").sort_by("usd", reverse=True)
        self.refresh_all()

    def focus_default(self) -> None:
        focus_now(self.table("companies"))

    def main_table(self) -> LiveTable:
        return self.table("companies")

    # ------------------------------------------------------------------------------------------- data

    def _company_row(self, company_id: str) -> dict[str, Any] | None:
        """The companies table's row: the Store's company plus the counts and costs shown beside it."""
        company = self.store.get("companies", company_id)
        if company is None:
            return None
        index = self.index
        stream = self.streams.get(company_id)
        return {**company, "_stream": stream[0] if stream else None, "_agents": index.count("agents", company_id),
                "_agent_errors": index.count("agent_errors", company_id),
                "_open": index.count("open", company_id), "_awaiting": index.count("awaiting", company_id),
                "_cost": self.store.get("costs", company_id)}

    def _detail_rows(self, kind: str) -> dict[str, dict[str, Any]]:
        rows = self.store.rows(kind)
        return {entity_id: rows[entity_id] for entity_id in self.index.ids(kind, self.selected) if entity_id in rows}

    def _cost_rows(self) -> dict[str, dict[str, Any]]:
        costs = self.store.get("costs", self.selected) if self.selected else None
        entries = costs.get("by_agent") if costs else None
        if not isinstance(entries, list):
            return {}
        spends = [(entry, number(entry.get("usd")) or 0.0) for entry in entries if isinstance(entry, dict)]
        attributed = sum(usd for _, usd in spends)
        # The table sums to the total the title shows: an event (costs.threshold_reached) brings a new total before
        # the breakdown by agent is read again; the difference is shown as its own row meanwhile.
        total = number(costs.get("total_usd"))
        rows = {str(entry.get("agent_id")): entry for entry, _ in spends}
        whole = attributed
        if total is not None and abs(total - attributed) >= 0.005:
            rows[UNATTRIBUTED] = {"agent_id": UNATTRIBUTED, "usd": round(total - attributed, 2)}
            whole = total
        return {key: {**row, "share": (number(row.get("usd")) or 0.0) / whole if whole else 0.0}
                for key, row in rows.items()}

    def _read_streams(self) -> set[str]:
        """The companies whose stream is not live, from the channels' health; the ids whose mark changed."""
        before = self.streams
        self.streams = {company_id: (health.state, health.since)
                        for company_id, health in members_not_live(self.store.health.values(), "companies").items()}
        return {company_id for company_id in before.keys() | self.streams.keys()
                if before.get(company_id) != self.streams.get(company_id)}

    def refresh_all(self) -> None:
        self._show_budget()
        self._read_streams()
        for kind in COUNTERS:
            self.index.rebuild(kind, self.store.rows(kind))
        companies = self.store.rows("companies")
        self.table("companies").set_rows({company_id: self._company_row(company_id) for company_id in companies})
        self._show_company(self.table("companies").cursor_row_id, reset_cursor=False)

    def wants(self, batch) -> bool:
        return super().wants(batch) or BUDGET in batch.figures or bool(batch.health)

    def _show_budget(self) -> None:
        line = self.query_one("#capx-budget", Static)
        text = budget_text(self.store.figures.get(BUDGET))
        line.display = bool(text.plain)
        line.update(text)

    def apply_changes(self, batch) -> None:
        if BUDGET in batch.figures:
            self._show_budget()
        changed_companies: set[str] = self._read_streams() if batch.health else set()
        detail_changes: dict[str, set[str]] = {}
        replaced = self.KINDS & batch.replaced
        for kind in COUNTERS:
            if kind in replaced:  # a resync: re-read the kind (the companies' counts may all have moved)
                self.index.rebuild(kind, self.store.rows(kind))
                continue
            rows = self.store.rows(kind)
            for entity_id in batch.kinds.get(kind, ()):
                counts_changed, involved = self.index.update(kind, entity_id, rows.get(entity_id))
                changed_companies |= counts_changed
                if self.selected in involved:
                    detail_changes.setdefault(kind, set()).add(entity_id)
        changed_companies |= batch.kinds.get("companies", set()) | batch.kinds.get("costs", set())

        companies = self.table("companies")
        if replaced - {"runs"}:
            companies.set_rows({company_id: self._company_row(company_id)
                                for company_id in self.store.rows("companies")})
        elif changed_companies:
            companies.update_rows({company_id: self._company_row(company_id) for company_id in changed_companies})

        if self.selected != companies.cursor_row_id:
            return  # the cursor moved to another company; its CursorMoved message redraws the detail
        for kind in ("agents", "tasks", "runs"):
            if kind in replaced:
                self.table(kind).set_rows(self._detail_rows(kind))
            elif kind in detail_changes:
                rows = self.store.rows(kind)
                self.table(kind).update_rows({entity_id: self._row_if_selected(rows.get(entity_id))
                                              for entity_id in detail_changes[kind]})
        if replaced or "agents" in detail_changes or self.selected in changed_companies:
            self.table("costs").set_rows(self._cost_rows())
            self._show_title()

    def _row_if_selected(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        return row if row is not None and str(row.get("company_id") or "") == self.selected else None

    def _show_company(self, company_id: str | None, *, reset_cursor: bool) -> None:
        if company_id != self.selected:
            self._look_at(company_id)
        self.selected = company_id
        for kind in ("agents", "tasks", "runs"):
            table = self.table(kind)
            table.set_rows(self._detail_rows(kind))
            if reset_cursor:
                table.move_cursor(0)
        self.table("costs").set_rows(self._cost_rows())
        self._show_title()

    def _show_title(self) -> None:
        title = self.query_one("#capx-company-title", Static)
        company = self.store.get("companies", self.selected) if self.selected else None
        if company is None:
            title.update(Text("No company selected", style="dim"))
            return
        awaiting = self.index.count("awaiting", self.selected)
        text = Text.assemble((clean(company.get("name"), self.selected), "bold"), " · ",
                             status_text(company.get("status"), COMPANY_STATUS_STYLES))
        stream = self.streams.get(self.selected)
        if stream is not None:  # next to the status: the line is cut at its end on a narrow screen
            state, since = stream
            text.append(f" · {GLYPHS[state]} stream {state.value} since {hms(since)}, as of then",
                        style=STREAM_STYLE)
        text.append(f" · {self.index.count('agents', self.selected)} agents"
                    f" · {self.index.count('open', self.selected)} open · ")
        text.append(f"{awaiting} awaiting", style="bold reverse yellow" if awaiting else "dim")
        text.append(" · ")
        text.append_text(cost_text(self.store.get("costs", self.selected), company.get("monthly_budget_usd")))
        title.update(text)

    def tick(self) -> None:
        """Heartbeat and "updated" ages follow the clock."""
        active = self.query_one("#capx-detail", TabbedContent).active
        if active in ("capx-tab-agents", "capx-tab-tasks"):
            self.table(active.removeprefix("capx-tab-")).refresh_cells()

    # ------------------------------------------------------------------------------------------- messages

    def _look_at(self, company_id: str | None) -> None:
        """The company the operator looks at has its snapshot first (the request budget's FOCUS)."""
        capx = self.capwatch.hub.vendor("capx")
        look_at = getattr(capx, "look_at", None)
        if callable(look_at):
            look_at(company_id)

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        if message.table.id == "capx-companies" and message.row_id != self.selected:
            self._show_company(message.row_id, reset_cursor=True)

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        kind = (message.table.id or "").removeprefix("capx-")
        row = message.row
        if kind == "companies":  # the Store's row, not the counts the table adds
            row = self.store.get("companies", message.row_id) or row
        what = {"companies": "Company", "agents": "Agent", "tasks": "Task", "costs": "Cost of agent",
                "runs": "Run"}.get(kind, "Row")
        entity_kind = "agents" if kind == "costs" else kind  # a cost row is an agent's spend
        self.open_detail(f"{what} {message.row_id}", row, entity_kind, message.row_id)

    def entity_keys(self, kind: str, entity_id: str) -> list[WindowKey]:
        """A task awaiting approval: approve, reject. An agent, a company, its costs: pause or resume the company."""
        if kind == "tasks":
            task = self.store.get("tasks", entity_id)
            if task is not None and task.get("status") == AWAITING:
                return [WindowKey("a", "approve", "Approve"), WindowKey("r", "reject", "Reject")]
        elif kind in ("agents", "companies", "costs"):
            company = self.store.get("companies", self.selected) if self.selected else None
            if company is not None:
                running = company.get("status") == "running"
                return [WindowKey("p", "pause", "Pause company" if running else "Resume company")]
        return []

    def show_entity(self, kind: str, entity_id: str) -> bool:
        """A company, or an agent, task, run or cost of one: the company selected, its detail on that tab."""
        if kind in ("companies", "costs"):
            company_id: Any = entity_id
        else:
            row = self.store.get(kind, entity_id)
            company_id = row.get("company_id") if row else None
        if not isinstance(company_id, str) or not self.reveal(self.table("companies"), company_id):
            return False
        if company_id != self.selected:
            self._show_company(company_id, reset_cursor=True)
        if kind in DETAIL_TABS:
            self.query_one("#capx-detail", TabbedContent).active = f"capx-tab-{kind}"
            if kind == "costs" or not self.reveal(self.table(kind), entity_id):
                self.table(kind).focus()
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()  # the detail tabs are this pane's business, not the app's tabs

    # ------------------------------------------------------------------------------------------- actions

    def commands(self):
        yield from self.offer("Capx: resync company", "Re-read the selected company's agents, tasks and costs",
                              "resync")
        yield from self.offer("Capx: approve task", "Approve the selected task awaiting approval (a)", "approve")
        yield from self.offer("Capx: reject task", "Reject the selected task awaiting approval (r)", "reject")
        yield from self.offer("Capx: pause or resume company", "Toggle the selected company (p)", "pause")
        yield from self.offer("Capx: run a playbook", "Run a playbook on the selected company (x)", "run_playbook")

    def action_detail_tab(self, step: int) -> None:
        tabs = self.query_one("#capx-detail", TabbedContent)
        current = tabs.active.removeprefix("capx-tab-")
        position = DETAIL_TABS.index(current) if current in DETAIL_TABS else 0
        tabs.active = f"capx-tab-{DETAIL_TABS[(position + step) % len(DETAIL_TABS)]}"

    def _company(self) -> tuple[str, dict[str, Any]] | None:
        company = self.store.get("companies", self.selected) if self.selected else None
        if company is None:
            self.notify("Select a company first", severity="warning", markup=False)
            return None
        return self.selected, company

    @vendor_action("capx", what="Approve task")
    def action_approve(self) -> None:
        self._decide(approve=True)

    @vendor_action("capx", what="Reject task")
    def action_reject(self) -> None:
        self._decide(approve=False)

    def _decide(self, *, approve: bool) -> None:
        self.query_one("#capx-detail", TabbedContent).active = "capx-tab-tasks"
        task_id = self._task_to_decide()
        task = self.table("tasks").get_row(task_id) if task_id else None
        if task is None:
            self.notify("Select a task awaiting approval (Tasks tab)", severity="warning", markup=False)
            return
        title = clean(task.get("title"), task_id)
        verb = "Approve" if approve else "Reject"
        consequence = "The agent goes on with it." if approve else "The agent's work on it is discarded."
        self.confirm_and_run(
            f"{verb} task “{title}” ({clean(task_id)})?\n{consequence}",
            lambda: self.capwatch.hub.vendor("capx").decide_task(task_id, approve),
            done=f"{'Approved' if approve else 'Rejected'} “{title}”",
            failed=f"{verb} failed", description=f"{verb.lower()} a Capx task", danger=not approve)

    def _task_to_decide(self) -> str | None:
        """The task under the cursor in the Tasks table; from anywhere else, when that task is not awaiting
        approval, the first one that is (the cursor follows its row as tasks move, so it may sit on another)."""
        tasks = self.table("tasks")
        current = tasks.chosen_row_id  # as the operator saw it
        if current is not None and (tasks.get_row(current) or {}).get("status") == AWAITING:
            return current
        if self.app.focused is tasks:
            return None  # the operator chose that row: do not silently pick another
        for position, task_id in enumerate(tasks.row_ids):
            if (tasks.get_row(task_id) or {}).get("status") == AWAITING:
                tasks.move_cursor(position)
                return task_id
        return None

    @vendor_action("capx", what="Pause or resume company")
    def action_pause(self) -> None:
        if (chosen := self._company()) is None:
            return
        company_id, company = chosen
        name = clean(company.get("name"), company_id)
        pause = company.get("status") == "running"  # anything else (paused, stopped) is resumed
        question = (f"Pause company “{name}” ({clean(company_id)})?\nIts agents stop taking work." if pause else
                    f"Resume company “{name}” ({clean(company_id)})?\nIts agents take work again.")
        self.confirm_and_run(question, lambda: self.capwatch.hub.vendor("capx").set_paused(company_id, pause),
                             done=f"{'Paused' if pause else 'Resumed'} “{name}”",
                             failed="Pause failed" if pause else "Resume failed",
                             description="pause a Capx company" if pause else "resume a Capx company")

    @vendor_action("capx", what="Run a playbook")
    def action_run_playbook(self) -> None:
        if (chosen := self._company()) is None:
            return
        company_id, company = chosen
        company_name = clean(company.get("name"), company_id)
        self.run_and_toast(lambda: self.capwatch.hub.vendor("capx").playbooks(),
                           done=lambda playbooks: self._choose_playbook(list(playbooks), company_id, company_name),
                           failed="Could not list playbooks", description="list Capx playbooks")

    def _choose_playbook(self, playbooks: list[Any], company_id: str, company_name: str) -> str | None:
        """The playbooks are listed: offer them (or say there are none)."""
        names = {str(p.id): clean(getattr(p, "name", None), str(p.id)) for p in playbooks if getattr(p, "id", None)}
        self._playbook_names.update(names)
        if not names:
            return "Capx has no playbooks to run"

        def chosen(playbook_id: str | None) -> None:
            if not playbook_id:
                return
            name = names.get(playbook_id, playbook_id)
            self.confirm_and_run(
                f"Run playbook “{name}” on company “{company_name}” ({clean(company_id)})?\n"
                "Its runs show in the Runs tab.",
                lambda: self.capwatch.hub.vendor("capx").run_playbook(playbook_id, company_id),
                done=lambda run: (f"Started “{name}” on “{company_name}”: "
                                  f"{clean(getattr(run, 'id', None), 'run')} {clean(getattr(run, 'status', None), '')}"
                                  ).rstrip(),
                failed="Run playbook failed", description="run a Capx playbook")

        self.app.push_screen(PlaybookScreen(playbooks, company_name), chosen)
        return None

    @vendor_action("capx", what="Resync company", mutation=False)
    def action_resync(self) -> None:
        if (chosen := self._company()) is None:
            return
        company_id, company = chosen
        self.run_and_toast(lambda: self.capwatch.hub.vendor("capx").resync(company_id),
                           done=f"Re-read “{clean(company.get('name'), company_id)}” from Capx",
                           failed="Resync failed", description="resync a Capx company", group="capx-resync",
                           exclusive=True)
