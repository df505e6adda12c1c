"""Which events are alerts, which are failures, and which ring the bell: rules on one event, with no state and no
Textual. The log and the notices are tui/app/alerts.py's, what an alert says tui/app/alert_words.py's; both read
these rules, neither imports the other for them.

- An alert: as the vendors declare (tui/vendors/base.py `Vendor`): an event type of `alert_types`, or an entity
  that reaches one of `alert_statuses` (the status the event gives it: its patch's, else the payload's).
- A failure: the entity failed (FAILED_STATUSES), or the event's type says an error or a failure.
- The bell: only for the alerts the `alert_bell` setting names (`bell_rule`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.live.events import Event
    from tui.vendors.base import Vendor


def entity_status(event: Event) -> str | None:
    """The status an event gives its entity: its patch's, else the payload's (a Casmo webhook has it only in
    its patch)."""
    for source in (event.patch, event.data):
        if isinstance(source, dict):
            status = source.get("status")
            if isinstance(status, str) and status:
                return status
    return None


def alert_rule(declared: Iterable[Vendor]) -> Callable[[Event], bool]:
    """Whether an event is an alert, as the vendors declare: an event type of `alert_types`, or an entity that
    reaches one of `alert_statuses` (the status the event gives it)."""
    types = {vendor.name: vendor.alert_types for vendor in declared if vendor.alert_types}
    statuses = {vendor.name: vendor.alert_statuses for vendor in declared if vendor.alert_statuses}

    def is_alert(event: Event) -> bool:
        if event.type in types.get(event.service, ()):
            return True
        wanted = statuses.get(event.service)
        return wanted is not None and entity_status(event) in wanted

    return is_alert


# ------------------------------------------------------------------------------------------------ the bell

FAILED_STATUSES = ("failed", "error")


def is_failure(event: Event) -> bool:
    return entity_status(event) in FAILED_STATUSES or event.type.endswith((".error", ".failed"))


def bell_rule(value: str | None) -> Callable[[Event], bool]:
    """Whether an alert rings the bell, from the `alert_bell` setting (tui/config/model.py ALERT_BELL_WORDS: `all`,
    `failure`, `approval`, or event-type globs such as `costs.*`): none by default."""
    from tui.config.model import alert_bell_words

    words = alert_bell_words(value)

    def rings(event: Event) -> bool:
        for word in words:
            if (word == "all" or (word == "failure" and is_failure(event))
                    or (word == "approval" and "approval" in event.type)
                    or fnmatchcase(event.type.lower(), word)):
                return True
        return False

    return rings
