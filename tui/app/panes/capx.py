"""The Capx tab: every company with its live counts, and the selected company's agents, tasks, costs and
playbook runs; approve or reject tasks, pause or resume a company, run a playbook (each after a confirmation).

The counts per company (agents, open tasks, tasks awaiting approval) come from a `CompanyIndex` kept up to
date from the ids each batch names, so a frame where three tasks changed costs three index updates, not a
scan of every task of every company."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from tui import wall_clock
from tui.app.panes.base import Pane
from tui.app.screens import ConfirmScreen, DetailScreen
from tui.app.widgets.table import Column, LiveTable
from tui.live.events import parse_timestamp
from tui.text import sanitize

# Known values, for colour only: an unknown status is shown as it comes, unstyled.
COMPANY_STATUS_STYLES = {"running": "green", "paused": "yellow", "stopped": "red"}
AGENT_STATUS_STYLES = {"idle": "dim", "working": "green", "error": "bold red"}
TASK_STATUS_STYLES = {"open": "", "in_progress": "cyan", "awaiting_approval": "bold black on yellow",
                      "completed": "green", "rejected": "dim red"}
RUN_STATUS_STYLES = {"running": "yellow", "completed": "green", "failed": "bold red"}

AWAITING = "awaiting_approval"
FINISHED_TASKS = frozenset({"completed", "rejected"})  # every other status counts as an open task
STALE_HEARTBEAT = 120  # seconds without a heartbeat before the age turns yellow
SHARE_BAR = 16  # cells of the per-agent cost bar
DETAIL_TABS = ("agents", "tasks", "costs", "runs")


# --------------------------------------------------------------------------------------------- formatting

def clean(value: Any, fallback: str = "—") -> str:
    return fallback if value is None or value == "" else sanitize(value, single_line=True)


def number(value: Any) -> float | None:
    """A server number, or None for anything else (a string, a bool, a missing field)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def money(value: float, cents: bool = False) -> str:
    return f"${value:,.2f}" if cents else f"${value:,.0f}"


def ago(value: Any, now: float | None = None) -> str:
    """"12s ago", "5m ago", "3h ago", "2d ago"; "—" when the time is missing or unreadable."""
    moment = parse_timestamp(value)
    if moment is None:
        return "—"
    seconds = max(0, int((wall_clock.now() if now is None else now) - moment))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def clock(value: Any) -> str:
    moment = parse_timestamp(value)
    return wall_clock.hms(moment) if moment is not None else "—"


def status_text(value: Any, styles: dict[str, str]) -> Text:
    status = clean(value)
    return Text(status, style=styles.get(status, ""))


def cost_share(costs: dict[str, Any] | None, budget: Any = None) -> tuple[float | None, float | None, float | None]:
    """(total, threshold, total/threshold) of a costs row; the company's monthly budget stands in for a
    missing threshold."""
    if not costs:
        return None, None, None
    total = number(costs.get("total_usd"))
    threshold = number(costs.get("threshold_usd")) or number(budget)
    share = total / threshold if total is not None and threshold else None
    return total, threshold, share


def cost_text(costs: dict[str, Any] | None, budget: Any = None) -> Text:
    """"$412 / $500  82%": green under 75 %, yellow up to the threshold, red at or past it."""
    total, threshold, share = cost_share(costs, budget)
    if total is None:
        return Text("—", style="dim")
    if share is None:
        return Text(money(total))
    reached = share >= 1 or bool(costs and costs.get("threshold_reached_at"))
    style = "bold red" if reached else "yellow" if share >= 0.75 else "green"
    return Text(f"{money(total)} / {money(threshold)}  {share:.0%}", style=style)


def share_bar(share: float) -> Text:
    share = min(max(share, 0.0), 1.0)
    filled = round(share * SHARE_BAR)
    return Text.assemble(("█" * filled, "cyan"), ("░" * (SHARE_BAR - filled), "dim"), f" {share:4.0%}")


# --------------------------------------------------------------------------------------------- the index

def _agent_counters(row: dict[str, Any]) -> tuple[str, ...]:
    return ("agents", "agent_errors") if row.get("status") == "error" else ("agents",)


def _task_counters(row: dict[str, Any]) -> tuple[str, ...]:
    status = row.get("status")
    if status == AWAITING:
        return ("open", "awaiting")
    return () if status in FINISHED_TASKS else ("open",)


# Per indexed kind: the counters it owns, and which of them one row adds to.
COUNTERS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[str, ...]]]] = {
    "agents": (("agents", "agent_errors"), _agent_counters),
    "tasks": (("open", "awaiting"), _task_counters),
    "runs": ((), lambda row: ()),
}


class CompanyIndex:
    """Which agents, tasks and runs belong to each company, and per-company counts (agents, agent_errors,
    open, awaiting). `update` applies one changed entity using what it counted for it last time, because the
    Store merges changes into its rows in place and the old status is gone by the time we look."""

    def __init__(self) -> None:
        self.members: dict[str, defaultdict[str, set[str]]] = {kind: defaultdict(set) for kind in COUNTERS}
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._counted: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {kind: {} for kind in COUNTERS}

    def rebuild(self, kind: str, rows: dict[str, dict[str, Any]]) -> None:
        for name in COUNTERS[kind][0]:
            self.counts[name].clear()
        self.members[kind].clear()
        self._counted[kind].clear()
        for entity_id, row in rows.items():
            self.update(kind, entity_id, row)

    def update(self, kind: str, entity_id: str, row: dict[str, Any] | None) -> tuple[set[str], set[str]]:
        """Apply one entity's new state (None: removed). Returns (companies whose counts changed, companies
        the entity belonged to before or belongs to now)."""
        old = self._counted[kind].pop(entity_id, None)
        new = None if row is None else (str(row.get("company_id") or ""), COUNTERS[kind][1](row))
        involved: set[str] = set()
        if old is not None:
            company, names = old
            involved.add(company)
            members = self.members[kind][company]
            members.discard(entity_id)
            if not members:
                del self.members[kind][company]
            for name in names:
                self.counts[name][company] -= 1
        if new is not None:
            company, names = new
            involved.add(company)
            self.members[kind][company].add(entity_id)
            for name in names:
                self.counts[name][company] += 1
            self._counted[kind][entity_id] = new
        return (set() if old == new else involved), involved

    def count(self, name: str, company_id: str) -> int:
        return self.counts[name].get(company_id, 0)

    def ids(self, kind: str, company_id: str | None) -> set[str]:
        return self.members[kind].get(company_id, set()) if company_id is not None else set()


# --------------------------------------------------------------------------------------------- the modal

class PlaybookScreen(ModalScreen[str | None]):
    """Choose one playbook to run. Dismisses with its id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, playbooks: Iterable[Any], company_name: str):
        super().__init__(classes="modal")
        self.company_name = company_name
        seen: set[str] = set()
        self.options: list[Option] = []
        for playbook in playbooks:
            playbook_id = str(getattr(playbook, "id", "") or "")
            if not playbook_id or playbook_id in seen:  # an option id must be unique
                continue
            seen.add(playbook_id)
            prompt = Text.assemble((clean(getattr(playbook, "name", None), playbook_id), "bold"), "  ",
                                   (clean(getattr(playbook, "description", None), ""), "dim"))
            self.options.append(Option(prompt, id=playbook_id))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="capx-playbook-dialog"):
            yield Label(Text(f"Run a playbook on {self.company_name}", style="bold"), classes="dialog-title")
            yield OptionList(*self.options, id="capx-playbook-list")
            yield Label(Text("Enter chooses · Esc cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_id)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------------------------- the pane

class CapxPane(Pane):
    KINDS = frozenset({"companies", "agents", "tasks", "costs", "runs"})
    HELP_TITLE = "Capx"

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("p", "pause", "Pause"),
        Binding("x", "run_playbook", "Playbook"),
        Binding("R", "resync", "Resync company", show=False),
        Binding("right_square_bracket", "detail_tab(1)", "Next detail tab", key_display="]", show=False),
        Binding("left_square_bracket", "detail_tab(-1)", "Previous detail tab", key_display="[", show=False),
    ]

    MUTATIONS = frozenset({"approve", "reject", "pause", "run_playbook"})

    def __init__(self, *children, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self.index = CompanyIndex()
        self.selected: str | None = None  # the company whose detail is shown
        self._filter_target: LiveTable | None = None
        self._playbook_names: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield LiveTable(self._company_columns(), id="capx-companies")
        yield Static(id="capx-company-title")
        with TabbedContent(id="capx-detail"):
            with TabPane("Agents", id="capx-tab-agents"):
                yield LiveTable(self._agent_columns(), id="capx-agents")
            with TabPane("Tasks", id="capx-tab-tasks"):
                yield LiveTable(self._task_columns(), id="capx-tasks")
            with TabPane("Costs", id="capx-tab-costs"):
                yield LiveTable(self._cost_columns(), id="capx-costs")
            with TabPane("Runs", id="capx-tab-runs"):
                yield LiveTable(self._run_columns(), id="capx-runs")
        # Last in the DOM (CSS docks it on top): a screen's auto-focus takes the first focusable widget, even
        # a hidden one, and that must be the companies table.
        box = Input(placeholder="filter (Esc clears)", id="capx-filter")
        box.display = False
        yield box

    def _company_columns(self) -> list[Column]:
        return [
            Column("name", "Company", render=lambda row: clean(row.get("name"), clean(row.get("id")))),
            Column("status", "Status", width=8,
                   render=lambda row: status_text(row.get("status"), COMPANY_STATUS_STYLES)),
            Column("_agents", "Agents", width=10, align="right", render=self._agents_cell),
            Column("_open", "Open", width=5, align="right"),
            Column("_awaiting", "Awaiting", width=8, align="right", render=self._awaiting_cell),
            Column("_cost", "Cost / threshold", width=20, align="right",
                   render=lambda row: cost_text(row.get("_cost"), row.get("monthly_budget_usd")),
                   sort_key=lambda row: cost_share(row.get("_cost"), row.get("monthly_budget_usd"))[2]),
        ]

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
        return Text(str(count), style="bold black on yellow") if count else Text("0", style="dim")

    def _agent_columns(self) -> list[Column]:
        return [
            Column("name", "Agent", render=lambda row: clean(row.get("name"), clean(row.get("id")))),
            Column("role", "Role", render=lambda row: clean(row.get("role"))),
            Column("status", "Status", width=8,
                   render=lambda row: status_text(row.get("status"), AGENT_STATUS_STYLES)),
            Column("last_heartbeat_at", "Heartbeat", width=9, align="right", render=self._heartbeat_cell,
                   sort_key=lambda row: -(parse_timestamp(row.get("last_heartbeat_at")) or 0)),
            # The last error stays after the agent recovers: red only while the agent is in error.
            Column("last_error", "Last error", render=lambda row: Text(
                clean(row.get("last_error"), ""), style="red" if row.get("status") == "error" else "dim")),
        ]

    @staticmethod
    def _heartbeat_cell(row: dict[str, Any]) -> Text:
        moment = parse_timestamp(row.get("last_heartbeat_at"))
        stale = moment is not None and wall_clock.now() - moment > STALE_HEARTBEAT
        return Text(ago(row.get("last_heartbeat_at")), style="yellow" if stale else "")

    def _task_columns(self) -> list[Column]:
        def title(row: dict[str, Any]) -> Text:
            return Text(clean(row.get("title"), clean(row.get("id"))),
                        style="bold yellow" if row.get("status") == AWAITING else "")

        def awaiting_first(row: dict[str, Any]) -> tuple:
            return (row.get("status") != AWAITING, -(parse_timestamp(row.get("updated_at")) or 0))

        return [
            Column("title", "Task", render=title),
            Column("status", "Status", width=17, render=lambda row: status_text(row.get("status"), TASK_STATUS_STYLES),
                   sort_key=awaiting_first),
            Column("agent_id", "Agent", render=lambda row: self._agent_name(row.get("agent_id"))),
            Column("updated_at", "Updated", width=8, align="right", render=lambda row: ago(row.get("updated_at")),
                   sort_key=lambda row: -(parse_timestamp(row.get("updated_at")) or 0)),
        ]

    def _cost_columns(self) -> list[Column]:
        return [
            Column("agent_id", "Agent", render=lambda row: self._agent_name(row.get("agent_id"))),
            Column("usd", "USD", width=11, align="right",
                   render=lambda row: "—" if number(row.get("usd")) is None else money(number(row.get("usd")), True)),
            Column("share", "Share", width=SHARE_BAR + 5, render=lambda row: share_bar(row.get("share") or 0.0)),
        ]

    def _run_columns(self) -> list[Column]:
        return [
            Column("id", "Run", render=lambda row: clean(row.get("id"))),
            Column("playbook_id", "Playbook", render=lambda row: self._playbook_names.get(
                str(row.get("playbook_id")), clean(row.get("playbook_id")))),
            Column("status", "Status", width=9, render=lambda row: status_text(row.get("status"), RUN_STATUS_STYLES)),
            Column("started_at", "Started", width=8, render=lambda row: clock(row.get("started_at")),
                   sort_key=lambda row: parse_timestamp(row.get("started_at")) or 0),
            Column("completed_at", "Completed", width=9, render=lambda row: clock(row.get("completed_at"))),
        ]

    def _agent_name(self, agent_id: Any) -> str:
        if not agent_id:
            return "—"
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
        self.table("companies").focus()

    # ------------------------------------------------------------------------------------------- data

    def _company_row(self, company_id: str) -> dict[str, Any] | None:
        """The companies table's row: the Store's company plus the counts and costs shown beside it."""
        company = self.store.get("companies", company_id)
        if company is None:
            return None
        index = self.index
        return {**company, "_agents": index.count("agents", company_id),
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
        total = sum(usd for _, usd in spends)
        return {str(entry.get("agent_id")): {**entry, "share": usd / total if total else 0.0}
                for entry, usd in spends}

    def refresh_all(self) -> None:
        for kind in COUNTERS:
            self.index.rebuild(kind, self.store.rows(kind))
        companies = self.store.rows("companies")
        self.table("companies").set_rows({company_id: self._company_row(company_id) for company_id in companies})
        self._show_company(self.table("companies").cursor_row_id, reset_cursor=False)

    def apply_changes(self, batch) -> None:
        changed_companies: set[str] = set()
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
                             status_text(company.get("status"), COMPANY_STATUS_STYLES),
                             f" · {self.index.count('agents', self.selected)} agents",
                             f" · {self.index.count('open', self.selected)} open · ")
        text.append(f"{awaiting} awaiting", style="bold black on yellow" if awaiting else "dim")
        text.append(" · ")
        text.append_text(cost_text(self.store.get("costs", self.selected), company.get("monthly_budget_usd")))
        title.update(text)

    def tick(self) -> None:
        """Heartbeat and "updated" ages follow the clock."""
        active = self.query_one("#capx-detail", TabbedContent).active
        if active in ("capx-tab-agents", "capx-tab-tasks"):
            self.table(active.removeprefix("capx-tab-")).refresh_cells()

    # ------------------------------------------------------------------------------------------- messages

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
        self.app.push_screen(DetailScreen(f"{what} {message.row_id}", row))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()  # the detail tabs are this pane's business, not the app's tabs

    # ------------------------------------------------------------------------------------------- filter

    def action_filter(self) -> None:
        focused = self.app.focused
        target = focused if isinstance(focused, LiveTable) and self in focused.ancestors else self.table("companies")
        if self._filter_target is not None and self._filter_target is not target:
            self._filter_target.filter_text = ""  # one filter at a time: the one the box shows
        self._filter_target = target
        box = self.query_one("#capx-filter", Input)
        box.placeholder = f"filter {(target.id or '').removeprefix('capx-')} (Esc clears)"
        box.value = target.filter_text
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "capx-filter" and self._filter_target is not None:
            self._filter_target.filter_text = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "capx-filter" and self._filter_target is not None:
            event.input.display = bool(event.value)
            self._filter_target.focus()

    def on_key(self, event) -> None:
        box = self.query_one("#capx-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.value = ""
            box.display = False
            target = self._filter_target or self.table("companies")
            target.filter_text = ""
            target.focus()

    # ------------------------------------------------------------------------------------------- actions

    def _mutations_offered(self) -> bool:
        return not self.capwatch.read_only and getattr(self.capwatch.hub, "capx", True) is not None

    def check_action(self, action: str, parameters: tuple) -> bool:
        if action in self.MUTATIONS and not self._mutations_offered():
            return False  # not offered at all: False hides it from the footer (None would grey it out)
        return True

    def commands(self):
        yield SystemCommand("Capx: resync company", "Re-read the selected company's agents, tasks and costs",
                            self.action_resync)
        if self._mutations_offered():
            yield SystemCommand("Capx: approve task", "Approve the selected task awaiting approval (a)",
                                self.action_approve)
            yield SystemCommand("Capx: reject task", "Reject the selected task awaiting approval (r)",
                                self.action_reject)
            yield SystemCommand("Capx: pause or resume company", "Toggle the selected company (p)",
                                self.action_pause)
            yield SystemCommand("Capx: run a playbook", "Run a playbook on the selected company (x)",
                                self.action_run_playbook)

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

    def _confirm_then(self, question: str, call: Callable[[], Awaitable[Any]], success: Callable[[Any], str],
                      failure: str, *, danger: bool = False) -> None:
        """Ask; on yes, run `call` in a worker and toast `success(result)` or the error."""
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._act(call, success, failure), group="capx-actions", exit_on_error=False,
                                description=failure.lower())

        self.app.push_screen(ConfirmScreen(question, danger=danger), answered)

    async def _act(self, call: Callable[[], Awaitable[Any]], success: Callable[[Any], str], failure: str) -> None:
        try:
            result = await call()
        except Exception as error:  # ApiError (a 409 conflict, ReadOnlyError, ...) or a network failure
            self.capwatch.toast_error(f"{failure}: {error}")
            return
        self.capwatch.toast(success(result))

    def action_approve(self) -> None:
        self._decide(approve=True)

    def action_reject(self) -> None:
        self._decide(approve=False)

    def _decide(self, *, approve: bool) -> None:
        if not self._mutations_offered():
            return
        self.query_one("#capx-detail", TabbedContent).active = "capx-tab-tasks"
        task_id = self._task_to_decide()
        task = self.table("tasks").get_row(task_id) if task_id else None
        if task is None:
            self.notify("Select a task awaiting approval (Tasks tab)", severity="warning", markup=False)
            return
        title = clean(task.get("title"), task_id)
        verb = "Approve" if approve else "Reject"
        consequence = "The agent goes on with it." if approve else "The agent's work on it is discarded."
        self._confirm_then(
            f"{verb} task “{title}” ({clean(task_id)})?\n{consequence}",
            lambda: self.capwatch.hub.capx_decide_task(task_id, approve),
            lambda _: f"{'Approved' if approve else 'Rejected'} “{title}”",
            f"{verb} failed", danger=not approve)

    def _task_to_decide(self) -> str | None:
        """The task under the cursor in the Tasks table; from anywhere else, when that task is not awaiting
        approval, the first one that is (the cursor follows its row as tasks move, so it may sit on another)."""
        tasks = self.table("tasks")
        current = tasks.cursor_row_id
        if current is not None and (tasks.get_row(current) or {}).get("status") == AWAITING:
            return current
        if self.app.focused is tasks:
            return None  # the operator chose that row: do not silently pick another
        for position, task_id in enumerate(tasks.row_ids):
            if (tasks.get_row(task_id) or {}).get("status") == AWAITING:
                tasks.move_cursor(position)
                return task_id
        return None

    def action_pause(self) -> None:
        if not self._mutations_offered() or (chosen := self._company()) is None:
            return
        company_id, company = chosen
        name = clean(company.get("name"), company_id)
        pause = company.get("status") == "running"  # anything else (paused, stopped) is resumed
        question = (f"Pause company “{name}” ({clean(company_id)})?\nIts agents stop taking work." if pause else
                    f"Resume company “{name}” ({clean(company_id)})?\nIts agents take work again.")
        self._confirm_then(question, lambda: self.capwatch.hub.capx_set_paused(company_id, pause),
                           lambda _: f"{'Paused' if pause else 'Resumed'} “{name}”",
                           "Pause failed" if pause else "Resume failed")

    def action_run_playbook(self) -> None:
        if not self._mutations_offered() or (chosen := self._company()) is None:
            return
        company_id, company = chosen
        self.run_worker(self._choose_playbook(company_id, clean(company.get("name"), company_id)),
                        group="capx-actions", exit_on_error=False, description="list Capx playbooks")

    async def _choose_playbook(self, company_id: str, company_name: str) -> None:
        try:
            playbooks = list(await self.capwatch.hub.capx_playbooks())
        except Exception as error:
            self.capwatch.toast_error(f"Could not list playbooks: {error}")
            return
        names = {str(p.id): clean(getattr(p, "name", None), str(p.id)) for p in playbooks if getattr(p, "id", None)}
        self._playbook_names.update(names)
        if not names:
            self.capwatch.toast("Capx has no playbooks to run")
            return

        def chosen(playbook_id: str | None) -> None:
            if not playbook_id:
                return
            name = names.get(playbook_id, playbook_id)
            self._confirm_then(
                f"Run playbook “{name}” on company “{company_name}” ({clean(company_id)})?\n"
                "Its runs show in the Runs tab.",
                lambda: self.capwatch.hub.capx_run_playbook(playbook_id, company_id),
                lambda run: f"Started “{name}” on “{company_name}”: {clean(getattr(run, 'id', None), 'run')} "
                            f"{clean(getattr(run, 'status', None), '')}".rstrip(),
                "Run playbook failed")

        self.app.push_screen(PlaybookScreen(playbooks, company_name), chosen)

    def action_resync(self) -> None:
        if (chosen := self._company()) is None:
            return
        company_id, company = chosen
        name = clean(company.get("name"), company_id)

        async def resync() -> None:
            try:
                await self.capwatch.hub.capx_resync(company_id)
            except Exception as error:
                self.capwatch.toast_error(f"Resync failed: {error}")
                return
            self.capwatch.toast(f"Re-read “{name}” from Capx")

        self.run_worker(resync(), group="capx-resync", exclusive=True, exit_on_error=False,
                        description="resync a Capx company")
