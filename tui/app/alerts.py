"""Alerts: the log the monitor keeps of them, and when the operator is told. No Textual here: the Overview and
Events tabs show the log, tui/app/widgets/alert_toast.py shows the notice.

- Which events are alerts, and which ring the bell: tui/app/alert_rules.py (as the vendors declare; `alert_bell`).
- The log (`AlertLog`, the app's `alerts`): every alert, oldest first, the last ALERT_HISTORY of them; an
  acknowledged alert leaves the Overview's list and stays in the log (the Events tab's "alerts only" view).
  The same alert told again while it is open (a reconnect's backfill, an agent's same error) is counted on it
  (×2) and comes first again.
- What it says: tui/app/alert_words.py (imported after the first frame, with the panes; it imports the rules, not
  this module).
- When (`ToastPolicy`): one notice that counts, shown for SHOW_SECONDS and updated in place while it shows, at
  most one per TOAST_GAP seconds (what arrives in between is counted for the next); nothing while a view that lists
  them is shown (the Overview, the Events tab's alerts view); nothing while muted (`m`, or `alert_toasts = false`)
  or snoozed; the alerts that came meanwhile are counted in one notice when the operator unmutes or the snooze
  ends. The bell rings only for the alerts `alert_bell` names, at most once per BELL_GAP seconds, never while muted
  or snoozed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, overload

from tui.app.alert_rules import entity_status
from tui.live.recording import RecalledEvent, confirmed, recall_key

if TYPE_CHECKING:
    from rich.text import Text

    from tui.app.alert_words import AlertWords
    from tui.live.events import Event
    from tui.live.store import Store

ALERT_HISTORY = 1000  # alerts kept: the Overview's list until acknowledged, the Events tab's "alerts only" always
SHOW_SECONDS = 6.0  # a notice stays this long; alerts arriving while it shows update it, they do not prolong it
TOAST_GAP = 30.0  # at most one notice per this many seconds: under the demo's load, on screen a fifth of the time
BELL_GAP = 5.0  # the bell rings at most once per this many seconds
SNOOZES = (15, 60)  # minutes the palette offers


# ------------------------------------------------------------------------------------------------ the log


class Alert:
    """One alert of the log (equal to itself alone). A class with slots, not a dataclass: ~0.6 ms less before the
    monitor's first frame."""

    __slots__ = ("seq", "event", "acknowledged", "repeats", "renamed", "unnamed", "_words", "_text")

    def __init__(self, seq: int, event: Event, *, unnamed: dict[int, Alert] | None = None):
        self.seq = seq  # its number in the log, from 0: the row id the tabs give it
        self.event = event
        self.acknowledged = False
        self.repeats = 0  # the same alert told again since, while open (a backfill, a resync, the same error)
        self.renamed = 0  # times its words changed since for a name the Store learned (`AlertLog.learn_names`)
        self.unnamed = unnamed  # its log's alerts that say an id where a name goes, by seq
        self._words: AlertWords | None = None
        self._text: Text | None = None

    def __repr__(self) -> str:
        return f"Alert(seq={self.seq}, event={self.event!r}, acknowledged={self.acknowledged}, repeats={self.repeats})"

    def text(self, store: Store | None) -> Text:
        """What it says (tui/app/alert_words.py), made once: a storm of alerts must not redo a thousand lines a
        frame. Made again when the Store learns a name it lacked (`AlertLog.learn_names`)."""
        if self._text is None:
            from tui.app.alert_words import alert_words

            self.say(alert_words(self.event, store))
        return self._text  # type: ignore[return-value]

    def told(self, store: Store | None) -> Text:
        """What it says, and how many times it was told when more than once (`  ×3`)."""
        text = self.text(store)
        return text.copy().append(f"  ×{self.repeats + 1}", style="bold") if self.repeats else text

    def say(self, words: AlertWords) -> None:
        self._words, self._text = words, words.text()
        if self.unnamed is not None:
            if words.named:
                self.unnamed.pop(self.seq, None)
            else:
                self.unnamed[self.seq] = self


def company_of(event: Event) -> str | None:
    """The company an event is about, as it says (its payload's, else its patch's `company_id`)."""
    for source in (event.data, event.patch):
        if isinstance(source, dict) and source.get("company_id"):
            return str(source["company_id"])
    return None


def repeat_key(event: Event) -> tuple | None:
    """What makes two alerts the same one: the entity, what happened to it, and the reason given."""
    if not (event.kind and event.id):
        return None
    data = event.data if isinstance(event.data, dict) else {}
    reason = data.get("error") or data.get("message")
    return event.service, event.type, event.kind, event.id, entity_status(event), str(reason)


class AlertLog(Sequence["Event"]):
    """The alerts kept, oldest first (as a sequence, their events), which are acknowledged, and whether the
    operator chose quiet (muted, or snoozed until a time). `version` changes with anything a view shows."""

    def __init__(self, size: int = ALERT_HISTORY, *, muted: bool = False):
        self._entries: deque[Alert] = deque(maxlen=size)
        self._by_seq: dict[int, Alert] = {}
        self._unnamed: dict[int, Alert] = {}  # alerts whose words had an id where a name goes, by seq
        self._repeats: dict[tuple, Alert] = {}
        self._recalled: dict[int, Alert] = {}  # alerts read back from the history, not yet confirmed live, by seq
        self._next = 0
        self.version = 0
        self.muted = muted
        self.snoozed_until: float | None = None  # epoch seconds (time.time), for the words; None: not snoozed

    # -------------------------------------------------------------------------------- the sequence of events

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [alert.event for alert in list(self._entries)[index]]
        return self._entries[index].event

    def __iter__(self) -> Iterator[Event]:
        return (alert.event for alert in self._entries)

    # -------------------------------------------------------------------------------- alerts

    def add(self, events: Iterable[Event]) -> list[Alert]:
        """Keep these alerts; the new ones (a repeat only counts on the alert it repeats)."""
        fresh = []
        for event in events:
            key = repeat_key(event)
            known = self._repeats.get(key) if key else None
            if (known is not None and known.seq in self._by_seq and known.event.__class__ is RecalledEvent
                    and recall_key(known.event) == recall_key(event)):
                # The live layer delivered again what was read back from the history (a backfill, a resync): the
                # same alert confirmed, not told again. It keeps its place and count.
                known.event = event
                known._text = None
                self._recalled.pop(known.seq, None)
                self.version += 1
                continue
            if known is not None and known.seq in self._by_seq and not known.acknowledged:
                # Told again (a backfill, a resync, the same error again): counted on it, and it comes first again,
                # with the time of the latest.
                known.repeats += 1
                known.event = event
                known._text = None  # its words are the latest event's (they said the first one's) when next shown
                self._entries.remove(known)
                self._entries.append(known)
                self.version += 1
                continue
            if len(self._entries) == self._entries.maxlen:
                oldest = self._entries[0]
                self._by_seq.pop(oldest.seq, None)
                self._unnamed.pop(oldest.seq, None)
                self._recalled.pop(oldest.seq, None)
                old_key = repeat_key(oldest.event)
                if old_key and self._repeats.get(old_key) is oldest:
                    del self._repeats[old_key]
            alert = Alert(self._next, event, unnamed=self._unnamed)
            self._next += 1
            self._entries.append(alert)
            self._by_seq[alert.seq] = alert
            if key:
                self._repeats[key] = alert
            if event.__class__ is RecalledEvent:
                self._recalled[alert.seq] = alert
            fresh.append(alert)
        if fresh:
            self.version += 1
        return fresh

    @property
    def entries(self) -> Sequence[Alert]:
        """Every alert kept, oldest first."""
        return self._entries

    def get(self, seq: int) -> Alert | None:
        return self._by_seq.get(seq)

    def learn_names(self, kinds: Mapping[str, Collection[str]], replaced: Collection[str],
                    store: Store) -> list[Alert]:
        """Entities changed in the Store (`kinds`: ids by kind, `replaced`: kinds read anew): the alerts that say an
        id where a name goes (an agent's error that came before its company was read; every alert recalled from the
        history before any vendor answered) say the names the Store has now. Only those whose entity or company is
        among the changes are looked at (what they say comes from the event, the entity and its company), and their
        line made again only when the words changed: an alert of a world gone (recalled from the history) costs a
        few lookups per frame. The alerts whose words changed (each counted in `renamed`)."""
        if not self._unnamed:
            return []
        from tui.app.alert_words import alert_words

        companies = kinds.get("companies", ())
        every_company = "companies" in replaced
        renamed = []
        for alert in list(self._unnamed.values()):
            event = alert.event
            company_id = company_of(event)
            if not (event.kind in replaced or event.id in kinds.get(event.kind or "", ())
                    or (company_id is not None and (every_company or company_id in companies))):
                continue  # nothing it lacks can have come
            words = alert_words(event, store)
            if words != alert._words:
                alert.say(words)
                alert.renamed += 1
                renamed.append(alert)
        if renamed:
            self.version += 1
        return renamed

    def confirm(self, kinds: Mapping[str, Collection[str]], replaced: Collection[str], store: Store) -> None:
        """Alerts read back from the history whose entity the live layer has just read in the state they say
        (a Capx resync reads a task still awaiting approval: no event repeats it) are confirmed: no longer marked.
        One that says a state the entity has left stays marked history: it was true then."""
        for alert in list(self._recalled.values()):
            event = alert.event
            if not (event.kind and event.id and (event.kind in replaced or event.id in kinds.get(event.kind, ()))):
                continue
            row = store.get(event.kind, event.id)
            status = entity_status(event)
            if row is not None and status is not None and row.get("status") == status:
                alert.event = confirmed(event)
                del self._recalled[alert.seq]
                self.version += 1

    def open(self) -> list[Alert]:
        """The alerts not acknowledged, newest first."""
        return [alert for alert in reversed(self._entries) if not alert.acknowledged]

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Acknowledge these alerts (by `seq`); how many were open."""
        done = 0
        for seq in seqs:
            alert = self._by_seq.get(seq)
            if alert is not None and not alert.acknowledged:
                alert.acknowledged = True
                done += 1
        if done:
            self.version += 1
        return done

    # -------------------------------------------------------------------------------- quiet

    def mute(self) -> None:
        self.muted, self.snoozed_until = True, None
        self.version += 1

    def snooze(self, seconds: float) -> None:
        self.muted, self.snoozed_until = False, time.time() + seconds
        self.version += 1

    def tell(self) -> None:
        """Neither muted nor snoozed."""
        self.muted, self.snoozed_until = False, None
        self.version += 1

    def silenced(self, now: float | None = None) -> bool:
        """Muted, or snoozed and the snooze not over."""
        if self.muted:
            return True
        return self.snoozed_until is not None and (time.time() if now is None else now) < self.snoozed_until

    def snooze_ends(self) -> str:
        """When the snooze ends, as HH:MM local ("" when not snoozed)."""
        from tui import wall_clock

        return wall_clock.hms(self.snoozed_until)[:5] if self.snoozed_until is not None else ""

    def quiet_words(self) -> str:
        """"toasts muted", "toasts snoozed until 14:30", or "" when the operator is told."""
        if self.muted:
            return "toasts muted (m)"
        if self.silenced():
            return f"toasts snoozed until {self.snooze_ends()} (m)"
        return ""


# ------------------------------------------------------------------------------------------------ when to tell


class ToastPolicy:
    """When the notice shows (see the module's docstring). Pure: the caller gives it the alerts and the
    monotonic clock, shows what it says (`count`, `newest`) and calls `release` when `due` comes."""

    def __init__(self, log: AlertLog, *, rings: Callable[[Event], bool] = lambda event: False):
        self.log = log
        self.rings = rings
        self.started: float | None = None  # when the notice on screen appeared
        self.last_start = float("-inf")
        self.count = 0  # alerts the notice on screen counts
        self.held = 0  # alerts waiting for the next notice (the gap, or quiet)
        self.newest: Alert | None = None
        self.last_bell = float("-inf")

    def showing(self, now: float) -> bool:
        return self.started is not None and now < self.started + SHOW_SECONDS

    def arrive(self, alerts: list[Alert], now: float, *, seen: bool = False) -> str:
        """New alerts. "show" (a new notice), "update" (the one showing), "hold" (counted for later), "seen" (the
        operator is looking at the list they join: nothing to tell)."""
        self.newest = alerts[-1]
        if seen:
            self.seen()
            return "seen"
        if self.log.silenced():
            self.held += len(alerts)
            return "hold"
        if self.showing(now):
            self.count += len(alerts)
            return "update"
        if now < self.last_start + TOAST_GAP:
            self.held += len(alerts)
            return "hold"
        self._start(now, len(alerts) + self.held)
        return "show"

    def seen(self) -> None:
        """The operator is looking at the list the alerts join: nothing held to tell."""
        self.held = 0

    def ring(self, alerts: list[Alert], now: float) -> bool:
        """Whether these alerts ring the bell now (and note that it rang)."""
        if self.log.silenced() or now < self.last_bell + BELL_GAP:
            return False
        if any(self.rings(alert.event) for alert in alerts):
            self.last_bell = now
            return True
        return False

    def due(self, now: float) -> float | None:
        """Seconds until held alerts may show (None: nothing held, or quiet)."""
        if not self.held or self.log.silenced():
            return None
        return max(0.0, self.last_start + TOAST_GAP - now)

    def release(self, now: float, *, asked: bool = False) -> bool:
        """The held alerts as one notice, if they may show now: the gap is over, or the operator `asked` (unmuted)."""
        if not self.held or self.log.silenced() or self.showing(now):
            return False
        if not asked and now < self.last_start + TOAST_GAP:
            return False
        self._start(now, self.held)
        return True

    def _start(self, now: float, count: int) -> None:
        self.started = self.last_start = now
        self.count = count
        self.held = 0

    def title(self) -> str:
        return f"▲ {self.count} new alert" + ("" if self.count == 1 else "s")

    def hide(self) -> None:
        self.started = None
