"""Whether what capwatch shows of a service is current, from its channels' health: what the incident banner says,
which panes look stale, and what `capwatch status` reports. No Textual, no vendor: it reads what the channels
declare (`ChannelHealth.fleet`).

A channel has lost its data's currency when it is reconnecting, failing, stale or failed; one still connecting (a
stream waiting for its first opening) had no data to lose, and one that is off is not counted. A service is

- DOWN when a channel that carries the whole service lost currency (a CapOut stream, Captain's polls, the Capx
  company listing), or when a fleet of it (channels that each follow one entity: a Capx stream per company) has
  no member current and some member lost currency: every member that had data lost it. What is shown of it is as
  of then, and its panes look stale.
- PARTIAL when only some members of a fleet lost currency ("14 of 300 company streams"): what the others show is
  current, so no pane is dimmed as a whole; the entities those members follow are as of when each was lost.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

from tui.live.events import ChannelHealth, ChannelState, Fleet, iso_utc
from tui.wall_clock import hms

NOT_CURRENT = frozenset((ChannelState.RECONNECTING, ChannelState.FAILING, ChannelState.STALE, ChannelState.FAILED))
CURRENT = frozenset((ChannelState.LIVE, ChannelState.DEGRADED))


class FleetGap(NamedTuple):
    """Some members of a fleet not live: how many, of how many, since when the first of them is not."""

    fleet: Fleet
    not_live: int
    members: int
    since: float  # epoch


class Outage(NamedTuple):
    """A service whose data is not all current: down (`down_since`), or partial (`gaps`, down_since None)."""

    service: str
    down_since: float | None = None
    gaps: tuple[FleetGap, ...] = ()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    @property
    def since(self) -> float:
        """Since when what is shown is as of then: of the whole service when down, else of the first member lost."""
        if self.down_since is not None:
            return self.down_since
        return min(gap.since for gap in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        return {"down": self.down, "since": iso_utc(self.since),
                "fleets": [{"fleet": gap.fleet.members, "not_live": gap.not_live, "of": gap.members,
                            "since": iso_utc(gap.since)} for gap in self.gaps]}


def outages(channels: Iterable[ChannelHealth]) -> dict[str, Outage]:
    """Each service that is down or partial, by name (services with every channel current are not listed). Runs at
    every frame with a change of health: one pass, a fleet's live members only counted."""
    down: dict[str, float] = {}
    # (service, fleet's words) -> [the fleet, members current, the members that are not]
    fleets: dict[tuple[str, str, str], list[Any]] = {}
    for health in channels:
        fleet, state = health.fleet, health.state
        if fleet is None:
            service = health.service
            if state in NOT_CURRENT and service:
                down[service] = min(down.get(service, health.since), health.since)
            continue
        key = (health.service, fleet.members, fleet.entities)  # (a Fleet restored from the history is a copy)
        entry = fleets.get(key)
        if entry is None:
            entry = fleets[key] = [fleet, 0, []]
        if state in CURRENT:
            entry[1] += 1
        else:
            entry[2].append(health)
    gaps: dict[str, list[FleetGap]] = {}
    for (service, _, _), (fleet, current, others) in fleets.items():
        lost = [health.since for health in others if health.state in NOT_CURRENT]
        if not lost or not service:
            continue
        if not current:  # every member that had data lost it: down since the last one was lost
            down[service] = min(down.get(service, max(lost)), max(lost))
        else:
            gaps.setdefault(service, []).append(FleetGap(fleet, len(lost), current + len(others), min(lost)))
    return {service: Outage(service, down.get(service), tuple(gaps.get(service, ())))
            for service in sorted(down.keys() | gaps.keys())}


def down_services(channels: Iterable[ChannelHealth]) -> dict[str, float]:
    """The services that are down, each with the epoch since which what is shown of it is as of then."""
    return {service: outage.since for service, outage in outages(channels).items() if outage.down}


def outage_words(outage: Outage, clock: Callable[[float], str] = hms) -> str:
    """`capx down since 10:44:01`, or `capx: 14 of 300 company streams not live since 10:44:31` (plain text: the
    banner styles it, `capwatch status` prints it)."""
    if outage.down:
        return f"{outage.service} down since {clock(outage.since)}"
    return f"{outage.service}: " + "; ".join(gap_words(gap, clock) for gap in outage.gaps)


def gap_words(gap: FleetGap, clock: Callable[[float], str] = hms) -> str:
    return f"{gap.not_live} of {gap.members} {gap.fleet.members} not live since {clock(gap.since)}"


def members_not_live(channels: Iterable[ChannelHealth], entities: str) -> dict[str, ChannelHealth]:
    """The members of fleets following `entities` (a kind: "companies") that lost currency, by the id of the entity
    each follows (a member is named `<service>.<entity id>`)."""
    return {health.name.partition(".")[2]: health for health in channels
            if health.fleet is not None and health.fleet.entities == entities and health.state in NOT_CURRENT}
