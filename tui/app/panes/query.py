"""The Query tab: ask a Captain database a question, read the answer, the files it came from and what it cost.

A query runs in one worker (group "query"); Escape cancels it, which cancels the HTTP request under it. The
elapsed time ticks ten times a second only while a query runs. The answer is Markdown built from sanitized text,
and its links are never followed: clicking one copies it. Every question is kept in a history file
(tui/app/query_history.py), searchable here, and can be loaded back or run again. Queries only read, so
read-only mode allows them.

Keys, one rule (README, the help screen): outside the question every key is a command; in it every printable key is
text. The tab opens with the answer focused, not the editor. A printable key that is no command (W, H...) starts the
question, and it and every key after it are text however fast they come (tui/app/keys.py settles keys in order); a
burst of characters is text even when its first is a command (a question starting with "how"); `e` and Enter edit
it too. Escape always leaves the question. Ctrl+R runs it and leaves it too (Ctrl+Enter as well, where the terminal
reports it: most send Enter, so Ctrl+R is the key shown), so the next number key switches tabs; outside the question,
Escape cancels a running query.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, LoadingIndicator, Markdown, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker

from tui import wall_clock
from tui.app.keys import focus_now
from tui.app.panes.base import Pane
from tui.app.query_history import CANCELLED, FAILED, SUCCESS, HistoryEntry, QueryHistory, preview_of
from tui.app.toolkit.actions import allowed, needs_of, refusal, vendor_action
from tui.app.toolkit.cells import bar, number
from tui.app.toolkit.fit import FitLine, Part, part
from tui.text import sanitize

RELEVANCY_BAR = 10
TICK_SECONDS = 0.1  # the elapsed-time label, only while a query runs
STATUS_MARKS = {SUCCESS: ("✔", "green"), FAILED: ("✖", "red"), CANCELLED: ("⊘", "yellow")}
EMPTY_ANSWER = "*The answer will appear here. Write a question above and press Ctrl+R.*"


def relevancy_bar(score: Any, width: int = RELEVANCY_BAR) -> Text:
    """`██████░░░░ 0.62`; dots and a dash when the server gave no score."""
    fraction = number(score)
    if fraction is None:
        return bar(None, width, unknown="·").append("    —", style="dim")
    fraction = max(0.0, min(1.0, fraction))
    return bar(fraction, width).append(f" {fraction:.2f}")


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}s"


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "—"


def relevant_files_text(files: list[Any] | None) -> Text:
    """The files the answer came from, most relevant first, one line each."""
    text = Text().append("Relevant files\n", style="bold")
    if files is None:
        return text.append("(the server listed none)", style="dim")
    if not files:
        return text.append("(no file matched)", style="dim")
    ranked = sorted(files, key=lambda f: f.relevancy_score if isinstance(f.relevancy_score, (int, float)) else -1,
                    reverse=True)
    for n, file in enumerate(ranked):
        if n:
            text.append("\n")
        text.append_text(relevancy_bar(file.relevancy_score))
        text.append(" " + sanitize(file.file_name or file.file_id or "?", single_line=True))
        if file.file_type:
            text.append(f" ({sanitize(file.file_type, single_line=True)})", style="dim")
    return text


def metrics_text(reply: Any, round_trip: float) -> Text:
    metrics = reply.processing_metrics
    server_ms = metrics.execution_time_ms if metrics is not None else None
    rows = (
        ("Files processed", count(metrics.total_files_processed if metrics else None)),
        ("Tokens", count(metrics.total_tokens if metrics else None)),
        ("Server time", seconds(server_ms / 1000 if isinstance(server_ms, (int, float)) else None)),
        ("Round trip", f"{seconds(round_trip)} (measured)"),
    )
    text = Text().append("Processing\n", style="bold")
    for n, (label, value) in enumerate(rows):
        text.append(("\n" if n else "") + f"{label:<16}", style="dim")
        text.append(value)
    return text


def history_prompt(entry: HistoryEntry) -> Text:
    mark, style = STATUS_MARKS.get(entry.status, ("?", "dim"))
    when = time.strftime("%m-%d %H:%M", wall_clock.local(entry.time)) if entry.time else "—"
    text = Text(f"{when} ", style="dim")
    text.append(mark, style=style)
    text.append(f" {seconds(entry.elapsed):>7} ", style="dim")
    text.append(sanitize(entry.database, single_line=True)[:24], style="bold")
    text.append("  " + preview_of(entry.question, 200))
    return text


class HistoryPanel(Vertical):
    """The history list: typing in the search box filters it, Enter loads an entry, Ctrl+R runs it again.
    It only shows entries; the pane acts on the `Chosen` message."""

    BINDINGS = [
        Binding("ctrl+r", "choose(True)", "Re-run"),
        Binding("escape", "close", "Close"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    class Chosen(Message):
        def __init__(self, entry: HistoryEntry, run: bool) -> None:
            super().__init__()
            self.entry = entry
            self.run = run

    class Closed(Message):
        pass

    def __init__(self, history: QueryHistory, **kwargs: Any):
        super().__init__(**kwargs)
        self.history = history
        self.shown: list[HistoryEntry] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the history: type to filter, Enter loads, Ctrl+R runs again, Esc closes",
                    id="history-search")
        yield OptionList(id="history-list")

    @property
    def search(self) -> Input:
        return self.query_one("#history-search", Input)

    @property
    def options(self) -> OptionList:
        return self.query_one("#history-list", OptionList)

    def reload(self) -> None:
        self.shown = self.history.search(self.search.value)
        options = self.options
        options.clear_options()
        options.add_options([Option(history_prompt(entry), id=str(n)) for n, entry in enumerate(self.shown)])
        if self.shown:
            options.highlighted = 0

    def highlighted(self) -> HistoryEntry | None:
        index = self.options.highlighted
        return self.shown[index] if index is not None and 0 <= index < len(self.shown) else None

    @on(Input.Changed, "#history-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.reload()

    @on(Input.Submitted, "#history-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_choose(False)

    @on(OptionList.OptionSelected, "#history-list")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(False)

    def action_move(self, step: int) -> None:
        options = self.options
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -step
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def action_close(self) -> None:
        self.post_message(self.Closed())

    def action_choose(self, run: bool) -> None:
        entry = self.highlighted()
        if entry is not None:
            self.post_message(self.Chosen(entry, run))


class QueryPane(Pane):
    KINDS = frozenset({"databases"})
    HELP_TITLE = "Query (Captain)"

    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+enter", "run", "Run", show=False),
        Binding("escape", "leave_editor", "Done editing"),
        Binding("escape", "cancel", "Cancel"),
        Binding("e", "edit", "Edit question"),
        Binding("enter", "edit", "Edit question", show=False),
        Binding("ctrl+o", "toggle_history", "History"),
    ]

    class Answered(Message):
        """A query came back (or failed): the one message every run ends with, unless it was cancelled."""

        def __init__(self, run: int, question: str, database: str, elapsed: float, reply: Any = None,
                     error: str | None = None) -> None:
            super().__init__()
            self.run = run
            self.question = question
            self.database = database
            self.elapsed = elapsed
            self.reply = reply
            self.error = error

    def __init__(self, *args: Any, history: QueryHistory | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.history = history or QueryHistory()
        self.running_since: float | None = None
        self.worker: Worker | None = None
        self._runs = itertools.count(1)
        self._current_run = 0
        self._running_label = ""
        self._ticker: Timer | None = None
        self._database_names: list[str] | None = None
        self._wanted_database: str | None = None  # chosen from the history before the list held it

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-bar"):
            yield Label(Text("Query Captain", style="bold"), classes="query-title")
            yield Label("Database ", classes="query-label")
            yield Select([], prompt="choose a database", compact=True, id="query-database")
            yield LoadingIndicator(id="query-spinner")
            yield FitLine(id="query-status")
        yield TextArea(id="query-editor", soft_wrap=True, tab_behavior="focus",
                       placeholder="Ask a question about the database's files. Ctrl+R runs it.")
        with Horizontal(id="query-body"):
            with VerticalScroll(id="query-answer-box"):
                yield Markdown(EMPTY_ANSWER, id="query-answer", open_links=False)
            with Vertical(id="query-side"):
                yield Static(Text("Relevant files", style="bold"), id="query-files")
                yield Static(Text("Processing", style="bold"), id="query-metrics")
        yield HistoryPanel(self.history, id="query-history")

    @property
    def editor(self) -> TextArea:
        return self.query_one("#query-editor", TextArea)

    @property
    def database_select(self) -> Select:
        return self.query_one("#query-database", Select)

    @property
    def history_panel(self) -> HistoryPanel:
        return self.query_one(HistoryPanel)

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def history_open(self) -> bool:
        return bool(self.history_panel.display)

    def on_mount(self) -> None:
        self.query_one("#query-spinner").display = False
        self.history_panel.display = False
        self.history.load()
        if self.history.load_error:
            self.notify(self.history.load_error, severity="warning", markup=False)
        self.refresh_all()
        off = refusal(self.capwatch, needs_of(self, "run"))  # Captain is off: Ctrl+R is not offered, say why
        if off is not None:
            self._set_status(Text(off, style="yellow"))

    def focus_default(self) -> None:
        # Not the editor: there the number keys would type digits instead of switching tabs. `e` edits.
        focus_now(self.query_one("#query-answer-box"))

    def help_keys(self) -> list[tuple[str, str]]:
        return [("a letter", "that is no key starts the question; a burst of characters is text, whatever its first"),
                *super().help_keys()]

    def typing_target(self) -> TextArea | None:
        """Where a printable key that is no command starts typing (tui/app/keys.py): the question, unless it is
        being edited already or the history is open."""
        editor = self.editor
        return None if editor.has_focus or self.history_open else editor

    # ------------------------------------------------------------------------------------------- data

    def refresh_all(self) -> None:
        self._refresh_databases()

    def apply_changes(self, batch) -> None:
        self._refresh_databases()

    def _refresh_databases(self) -> None:
        """Feed the Select from the Store, keeping the choice across refreshes (set_options resets it)."""
        names = sorted(self.store.rows("databases"))
        if names == self._database_names:
            return
        self._database_names = names
        select = self.database_select
        keep = self._wanted_database or (select.value if isinstance(select.value, str) else None)
        with select.prevent(Select.Changed):
            select.set_options([(Text(sanitize(name, single_line=True)), name) for name in names])
            if keep in names:
                select.value = keep
                self._wanted_database = None
            elif keep is None and names:
                select.value = names[0]
            else:
                self._wanted_database = keep  # gone for now, or not listed yet: chosen again when it appears

    def choose_database(self, name: str) -> None:
        if name in (self._database_names or ()):
            self.database_select.value = name
            self._wanted_database = None
        else:
            self._wanted_database = name
            self.database_select.clear()

    @on(Select.Changed, "#query-database")
    def _database_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._wanted_database = None

    # ------------------------------------------------------------------------------------------- running

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # False hides a binding and lets its key go on to others (the Select's list wants Escape too).
        if action == "cancel":  # Escape outside the question
            return self.running and not self.editor.has_focus
        if action == "leave_editor":  # Escape in it, always
            return self.editor.has_focus
        if action == "edit":
            return not self.editor.has_focus and not self.history_open
        return super().check_action(action, parameters)

    def commands(self):
        yield from self.offer("Query: run the question", "Ask Captain (Ctrl+R)", "run")
        yield SystemCommand("Query: history", "Search, load and re-run earlier questions (Ctrl+O)",
                            self.action_toggle_history)
        if self.running:
            yield SystemCommand("Query: cancel", "Stop the running query (Esc)", self.action_cancel)

    @vendor_action("captain", what="Query", mutation=False)  # a query only reads: read-only mode allows it
    def action_run(self) -> None:
        database = self.database_select.value
        question = self.editor.text.strip()
        if not isinstance(database, str):
            self._set_status(Text("Choose a database first.", style="yellow"))
            return
        if not question:
            self._set_status(Text("Write a question first.", style="yellow"))
            return
        self.ask(question, database)
        if self.running and self.editor.has_focus:
            self.action_leave_editor()  # the next number key switches tabs; `e` goes back

    def ask(self, question: str, database: str) -> None:
        if not allowed(self.capwatch, needs_of(self, "run")):  # a question from the history, with Captain off
            return
        if self.running:
            self.notify("A query is running: Esc cancels it.", severity="warning", markup=False)
            return
        run = next(self._runs)
        self._current_run = run
        self.running_since = time.perf_counter()
        self._running_label = sanitize(database, single_line=True)
        self.query_one("#query-spinner").display = True
        self._tick()
        self._ticker = self.set_interval(TICK_SECONDS, self._tick)
        self.refresh_bindings()
        self.worker = self.run_worker(self._ask(run, question, database), group="query", exclusive=True,
                                      exit_on_error=False, description="Captain query")

    async def _ask(self, run: int, question: str, database: str) -> None:
        started = time.perf_counter()
        try:
            reply = await self.capwatch.hub.vendor("captain").query(question, database, include_files=True)
        except asyncio.CancelledError:
            elapsed = time.perf_counter() - started
            self.history.record(database=database, question=question, elapsed=elapsed, status=CANCELLED,
                                preview="cancelled")
            self._stopped(run, Text(f"Cancelled after {elapsed:.1f}s; the request was abandoned.", style="yellow"))
            raise
        except Exception as error:  # ApiError's text is safe to show; anything else is a bug worth seeing
            self.post_message(self.Answered(run, question, database, time.perf_counter() - started,
                                            error=str(error) or type(error).__name__))
            return
        self.post_message(self.Answered(run, question, database, time.perf_counter() - started, reply=reply))

    def _tick(self) -> None:
        if self.running_since is not None:
            elapsed = time.perf_counter() - self.running_since
            # At 80 columns the database's name stays, "asking" goes first (tui/app/toolkit/fit.py).
            self.query_one("#query-status", FitLine).show(
                part("asking ", "", rank=0, style="cyan"), part(f"{self._running_label}…", style="cyan bold", lead=""),
                part(f"{elapsed:.1f}s", style="cyan", lead=" "))

    def _stopped(self, run: int, status: Text | tuple[Part, ...]) -> None:
        """Back to idle, unless a newer run has started meanwhile (or the app is closing)."""
        if run != self._current_run or not self.is_attached:
            return
        self.running_since = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.query_one("#query-spinner").display = False
        self._set_status(status)
        self.refresh_bindings()
        if self.history_open:
            self.history_panel.reload()

    def _set_status(self, status: Text | tuple[Part, ...]) -> None:
        line = self.query_one("#query-status", FitLine)
        line.show_text(status) if isinstance(status, Text) else line.show(*status)

    def action_edit(self) -> None:
        focus_now(self.editor)

    def action_leave_editor(self) -> None:
        """Escape out of the question, so single keys (tab numbers, `q`) act again."""
        focus_now(self.query_one("#query-answer-box"))

    def action_cancel(self) -> None:
        if self.running and self.worker is not None:
            self.worker.cancel()  # raises CancelledError inside the request: httpx drops the connection
            self.notify("Query cancelled", markup=False, timeout=3)

    async def on_query_pane_answered(self, message: Answered) -> None:
        message.stop()
        reply = message.reply
        if message.error is not None:
            self.history.record(database=message.database, question=message.question, elapsed=message.elapsed,
                                status=FAILED, preview=message.error)
            self.capwatch.toast_error(f"Query failed: {message.error}")
            self._stopped(message.run, Text(f"✖ failed after {message.elapsed:.2f}s", style="red"))
            return
        answer = sanitize(reply.response or "")
        self.history.record(database=message.database, question=message.question, elapsed=message.elapsed,
                            status=SUCCESS, preview=answer)
        # At 80 columns the database's name stays, "round trip" goes first.
        self._stopped(message.run, (
            part(Text.assemble(("✔ ", "green"), f"{message.elapsed:.2f}s"), rank=2),
            part(" round trip", "", rank=0, lead=""),
            part(Text(sanitize(reply.database_name or message.database, single_line=True), style="bold"), rank=1)))
        self.query_one("#query-files", Static).update(relevant_files_text(reply.relevant_files))
        self.query_one("#query-metrics", Static).update(metrics_text(reply, message.elapsed))
        await self.query_one("#query-answer", Markdown).update(answer or "*(an empty answer)*")
        self.query_one("#query-answer-box").scroll_home(animate=False)

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        """A link in an answer is server text: copy it, never open it (it could be anything, file:// included)."""
        event.stop()
        href = sanitize(event.href, single_line=True)
        self.app.copy_to_clipboard(href)
        self.notify(f"Link copied (not opened): {href}", markup=False, timeout=4)

    # ------------------------------------------------------------------------------------------- history

    def action_toggle_history(self) -> None:
        panel = self.history_panel
        showing = not panel.display
        panel.display = showing
        self.query_one("#query-body").display = not showing
        if showing:
            panel.reload()
            focus_now(panel.search)
        else:
            focus_now(self.editor)
        self.refresh_bindings()

    def on_history_panel_closed(self, message: HistoryPanel.Closed) -> None:
        message.stop()
        if self.history_open:
            self.action_toggle_history()

    def on_history_panel_chosen(self, message: HistoryPanel.Chosen) -> None:
        message.stop()
        entry = message.entry
        self.editor.load_text(entry.question)
        self.choose_database(entry.database)
        self.action_toggle_history()
        if message.run:
            self.ask(entry.question, entry.database)
            if self.running:
                self.action_leave_editor()  # as Ctrl+R in the editor: the next number key switches tabs
