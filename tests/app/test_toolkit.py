"""The pane toolkit (tui/app/toolkit): one service check for keys and palette, one read-only refusal, one
confirm-and-run, one filter box, one protocol for what a pane needs from its app."""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from textual.widgets import Label

from tests.helpers.pane_host import PaneHost, StubHub
from tests.helpers.waiting import eventually
from tui.app.app import CapwatchApp
from tui.app.panes.captain import CaptainPane
from tui.app.panes.capx import CapxPane
from tui.app.panes.documents import DocumentsPane, UploadScreen
from tui.app.panes.events import EventsPane
from tui.app.panes.extraction import ExtractionPane
from tui.app.panes.query import QueryPane
from tui.api import ApiError
from tui.app.panes.base import Pane
from tui.app.screens import ConfirmScreen
from tui.app.toolkit.actions import needs_of, vendor_action
from tui.app.toolkit.filter_box import FilterBox
from tui.app.toolkit.host import Hub, PaneApp, PaneAppMixin
from tui.config import Config
from tui.live.events import Event
from tui.live.hub import LiveHub
from tui.vendors import VENDORS


def notes(app) -> str:
    return "\n".join(f"{n.title} {n.message}" for n in app._notifications)


@asynccontextmanager
async def hosting(pane_class, hub: StubHub, fill):
    """`pane_class` in the test host over `hub`, its Store filled by `fill`, the pane's main widget focused."""
    host = PaneHost(lambda: pane_class(id="pane"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        host.flush()
        await pilot.pause()
        pane = host.query_one(pane_class)
        pane.focus_default()
        await pilot.pause()
        yield host, pilot, pane


# ------------------------------------------------------------------------------------------------ service check

async def test_upload_is_neither_offered_nor_runnable_with_capout_off():
    """The bug: with CapOut off the palette offered Upload, and it ended in
    `'NoneType' object has no attribute 'upload'`. Keys and palette go through one check now."""
    app = CapwatchApp(Config(capx={"api_key": "capx_test", "base_url": "http://127.0.0.1:9"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await eventually(lambda: app.query(DocumentsPane), timeout=5, pilot=pilot)
        pane = app.query_one(DocumentsPane)
        pane.table.focus()
        await pilot.pause()
        assert pane.check_action("upload", ()) is False
        assert "Upload" not in {binding.binding.description for binding in app.screen.active_bindings.values()}
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, UploadScreen)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Upload a document" not in titles
        # Through the palette as an operator would: nothing to choose.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"upload")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        while not isinstance(app.screen, UploadScreen) and len(app.screen_stack) > 1:
            await pilot.press("escape")
            await pilot.pause()
        assert not isinstance(app.screen, UploadScreen)
        # Called anyway (a palette entry from before the profile changed): refused, and the hub is never reached.
        pane.action_upload()
        await pilot.pause()
        assert not isinstance(app.screen, UploadScreen)
        assert "NoneType" not in notes(app)


# Every action of every pane that needs a vendor: (pane, its service, the actions, the key of the first).
VENDOR_ACTIONS = [
    (DocumentsPane, "capout", ("upload",), "u"),
    (ExtractionPane, "casmo", ("submit",), "e"),
    (CapxPane, "capx", ("approve", "reject", "pause", "run_playbook", "resync"), "a"),
    (CaptainPane, "captain", ("create_database", "delete_database", "index", "delete_file"), "n"),
    (QueryPane, "captain", ("run",), "ctrl+r"),
]


def hub_calls() -> tuple[StubHub, list]:
    """A StubHub whose every action records its call."""
    calls: list = []

    def recorder(name):
        async def action(*args, **kwargs):
            calls.append(name)
            return SimpleNamespace(id="x", job_id="x", document_id="x", status="ok")
        return action

    names = {"capout": ("upload",), "casmo": ("submit",),
             "capx": ("decide_task", "set_paused", "run_playbook", "playbooks", "resync"),
             "captain": ("create_database", "delete_database", "delete_file", "index", "query")}
    return StubHub(**{vendor: SimpleNamespace(**{name: recorder(f"{vendor}.{name}") for name in actions})
                      for vendor, actions in names.items()}), calls


def sample_rows(store) -> None:
    store.replace("documents", {"doc_1": {"document_id": "doc_1", "file_name": "claim.pdf", "status": "failed"}})
    store.replace("jobs", {"job_1": {"job_id": "job_1", "filename": "invoice.pdf", "status": "completed"}})
    store.replace("companies", {"co_1": {"id": "co_1", "name": "Acme", "status": "running"}})
    store.replace("tasks", {"tsk_1": {"id": "tsk_1", "title": "Refund", "status": "awaiting_approval",
                                      "company_id": "co_1"}})
    store.replace("databases", {"alpha": {"database_name": "alpha"}})
    store.replace("files", {"alpha/f1": {"file_id": "f1", "file_name": "a.pdf", "database_name": "alpha"}})


@pytest.mark.parametrize("pane_class,service,actions,key", VENDOR_ACTIONS, ids=[v[1] + "-" + v[0].__name__
                                                                               for v in VENDOR_ACTIONS])
async def test_an_action_of_a_service_that_is_off_is_neither_shown_nor_runnable(pane_class, service, actions, key):
    hub, calls = hub_calls()
    hub.off = {service}
    async with hosting(pane_class, hub, sample_rows) as (host, pilot, pane):
        shown = {binding.binding.action for binding in host.screen.active_bindings.values()}
        for action in actions:
            assert pane.check_action(action, ()) is False and action not in shown  # the key bar
        assert not [command for command in pane.commands() if command.callback.__name__.removeprefix("action_")
                    in actions]  # the palette
        await pilot.press(key)
        await pilot.pause()
        assert len(host.screen_stack) == 1
        for action in actions:  # called anyway (a stale palette entry): refused, and said why
            getattr(pane, f"action_{action}")()
            await pilot.pause()
            assert len(host.screen_stack) == 1
            assert "is off in this profile" in list(host._notifications)[-1].message
        assert calls == []
        if pane_class is QueryPane:  # its whole tab is Captain's: it says why Ctrl+R is not offered
            assert "Captain is off" in str(pane.query_one("#query-status").render())


@pytest.mark.parametrize("pane_class,service,actions,key", VENDOR_ACTIONS[:4], ids=[v[0].__name__
                                                                                    for v in VENDOR_ACTIONS[:4]])
async def test_a_mutation_in_read_only_mode_stays_shown_and_says_read_only(pane_class, service, actions, key):
    hub, calls = hub_calls()
    hub.read_only = True
    async with hosting(pane_class, hub, sample_rows) as (host, pilot, pane):
        assert key in {binding.binding.key for binding in host.screen.active_bindings.values()}
        await pilot.press(key)
        await pilot.pause()
        assert len(host.screen_stack) == 1
        assert "read-only" in list(host._notifications)[-1].message
        for command in pane.commands():  # the palette alike
            mutation = needs_of(pane, command.callback.__name__.removeprefix("action_")).mutation
            assert ("read-only" in command.help) == mutation
            if mutation:
                command.callback()
                await pilot.pause()
                assert len(host.screen_stack) == 1 and "read-only" in list(host._notifications)[-1].message
        assert calls == []


# ------------------------------------------------------------------------------------------------ confirm and run

class Mutating(Pane):
    """A pane with one mutation, to watch the confirm -> worker -> toast flow on its own."""

    def __init__(self, call, **kwargs):
        super().__init__(**kwargs)
        self.call = call
        self.workers_started: list[dict] = []

    def run_worker(self, work, **options):
        self.workers_started.append(options)
        return super().run_worker(work, **options)

    @vendor_action("capx", what="Frobnicate")
    def action_frobnicate(self) -> None:
        self.confirm_and_run("Frobnicate it?", self.call, done=lambda result: f"Frobnicated {result}",
                             failed="Frobnicate failed", description="frobnicate a thing")


async def test_confirm_and_run_asks_runs_a_worker_and_toasts_the_result_or_the_error():
    calls: list[str] = []
    outcomes = iter(["[b]ok[/b]", ApiError("capx", 409, "\x1b]0;pwned\x07Task [b]tsk_2[/b] is done", code="conflict")])

    async def call():
        calls.append("called")
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    host = PaneHost(lambda: Mutating(call, id="pane"))
    async with host.run_test(size=(80, 24)) as pilot:
        pane = host.query_one(Mutating)
        pane.action_frobnicate()
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen) and host.screen.question == "Frobnicate it?"
        await pilot.press("n")
        await pilot.pause()
        assert calls == [] and pane.workers_started == []  # no: nothing runs
        pane.action_frobnicate()
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: len(host._notifications) == 1, timeout=3, pilot=pilot)
        assert pane.workers_started == [{"group": "mutating-actions", "exclusive": False, "exit_on_error": False,
                                         "description": "frobnicate a thing"}]
        [toast] = host._notifications
        assert toast.message == "Frobnicated [b]ok[/b]" and toast.markup is False and toast.severity == "information"
        pane.action_frobnicate()
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: len(host._notifications) == 2, timeout=3, pilot=pilot)
        error = list(host._notifications)[-1]
        assert error.severity == "error" and error.markup is False
        assert error.message == "Frobnicate failed: capx: HTTP 409 conflict: Task [b]tsk_2[/b] is done"
        assert calls == ["called", "called"] and host.is_running


# ------------------------------------------------------------------------------------------------ the filter box

def box_label(box: FilterBox) -> str:
    return str(box.query_one(".filter-box--label", Label).render())


async def filter_round_trip(host, pilot, box: FilterBox, table, text: str, rows_left: int, name: str) -> None:
    """The one behaviour: `/` on the focused table, typing filters, Enter keeps the filter and says so,
    `/` brings it back, Escape clears and closes."""
    everything = table.row_count
    table.focus()
    await pilot.press("slash")
    await pilot.pause()
    assert host.focused is box.input and box.display and box.target is table
    await pilot.press(*text)
    await pilot.pause()
    assert table.filter_text == text and table.row_count == rows_left < everything
    await pilot.press("enter")
    await pilot.pause()
    assert host.focused is table and table.row_count == rows_left  # kept
    assert box.display and box.value == text and box_label(box) == f"{name} filtered by"  # and it says so
    await pilot.press("slash")
    await pilot.pause()
    assert host.focused is box.input and box.value == text and box_label(box) == f"filter {name}"
    await pilot.press("escape")
    await pilot.pause()
    assert host.focused is table and table.filter_text == "" and table.row_count == everything
    assert box.display is box.inline and box.value == ""  # closed (a toolbar's box stays, empty)


def many_rows(store) -> None:
    store.replace("documents", {f"doc_{n}": {"document_id": f"doc_{n}", "file_name": f"claim{n}.pdf",
                                             "status": "completed"} for n in range(12)})
    store.replace("jobs", {f"job_{n}": {"job_id": f"job_{n}", "filename": f"invoice{n}.pdf", "status": "completed"}
                           for n in range(12)})
    store.replace("companies", {f"co_{n}": {"id": f"co_{n}", "name": f"Company {n}", "status": "running"}
                                for n in range(12)})
    store.replace("tasks", {f"tsk_{n}": {"id": f"tsk_{n}", "title": f"Task {n}", "status": "open", "company_id": "co_0"}
                            for n in range(12)})
    store.replace("databases", {name: {"database_name": name} for name in ("alpha", "beta", "gamma")})
    store.replace("files", {f"alpha/f{n}": {"file_id": f"f{n}", "file_name": f"file{n}.pdf", "database_name": "alpha"}
                            for n in range(12)})
    for n in range(12):
        store.apply(Event(time=1000.0 + n, service="capx", type=f"task.kind{n}", id=f"tsk_{n}", data={}))


PANES_WITH_A_FILTER = {
    "documents": (DocumentsPane, lambda pane: pane.table, "claim1", 3, "documents"),
    "extraction": (ExtractionPane, lambda pane: pane.table, "invoice1", 3, "jobs"),
    "capx-companies": (CapxPane, lambda pane: pane.table("companies"), "company 1", 3, "companies"),
    "capx-tasks": (CapxPane, lambda pane: pane.table("tasks"), "task 1", 3, "tasks"),
    "captain-databases": (CaptainPane, lambda pane: pane.databases, "alp", 1, "databases"),
    "captain-files": (CaptainPane, lambda pane: pane.files, "file1", 3, "files"),
    "events": (EventsPane, lambda pane: pane.table, "kind1", 3, "events"),
}


@pytest.mark.parametrize("case", PANES_WITH_A_FILTER)
async def test_the_filter_box_behaves_the_same_on_every_pane(case):
    pane_class, table_of, text, rows_left, name = PANES_WITH_A_FILTER[case]
    async with hosting(pane_class, StubHub(), many_rows) as (host, pilot, pane):
        if case == "capx-tasks":
            pane.query_one("#capx-detail").active = "capx-tab-tasks"
            await pilot.pause()
        await filter_round_trip(host, pilot, pane.filter_box(), table_of(pane), text, rows_left, name)


@pytest.mark.parametrize("pane_class,first,second", [
    (CaptainPane, lambda pane: pane.databases, lambda pane: pane.files),
    (CapxPane, lambda pane: pane.table("companies"), lambda pane: pane.table("agents")),
])
async def test_switching_tables_leaves_no_hidden_filter_behind(pane_class, first, second):
    """The bug: Captain left the previous table filtered with nothing showing it."""
    async with hosting(pane_class, StubHub(), many_rows) as (host, pilot, pane):
        box = pane.filter_box()
        first(pane).focus()
        await pilot.press("slash", *"a", "enter")
        await pilot.pause()
        assert first(pane).filter_text == "a" and box_label(box) == f"{first(pane).name} filtered by"
        second(pane).focus()
        await pilot.press("slash")
        await pilot.pause()
        assert first(pane).filter_text == "" and box.target is second(pane) and box.value == ""
        await pilot.press("escape")
        await pilot.pause()
        assert not box.display and first(pane).filter_text == second(pane).filter_text == ""


async def test_a_filter_box_left_empty_closes():
    async with hosting(DocumentsPane, StubHub(), many_rows) as (host, pilot, pane):
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert host.focused is pane.table and not pane.filter_box().display


# ------------------------------------------------------------------------------------------------ the host protocol

def protocol_members(protocol) -> set[str]:
    return {name for name in [*vars(protocol), *protocol.__annotations__] if not name.startswith("_")}


def test_the_app_and_the_test_host_are_both_what_a_pane_needs():
    """`PaneApp` is what a pane may use of its app: the monitor and the pane tests' host both implement it
    (the same toasts, from one mixin), and the hubs they hold implement `Hub`."""
    app = CapwatchApp(Config())
    host = PaneHost(lambda: Pane())
    assert protocol_members(PaneApp) >= {"hub", "config", "alerts", "store", "read_only", "toast", "toast_error",
                                         "open_entity"}
    for implementation in (app, host):
        assert isinstance(implementation, PaneApp), [name for name in protocol_members(PaneApp)
                                                     if not hasattr(implementation, name)]
        assert isinstance(implementation, PaneAppMixin)
        assert isinstance(implementation.hub, Hub) and implementation.store is implementation.hub.store
        for name in ("toast", "toast_error", "open_entity"):
            assert inspect.signature(getattr(type(implementation), name)) == inspect.signature(getattr(PaneApp, name))
    config = Config(capx={"api_key": "capx_test"})
    for hub in (LiveHub(config, VENDORS), StubHub()):
        assert isinstance(hub, Hub), [name for name in protocol_members(Hub) if not hasattr(hub, name)]
