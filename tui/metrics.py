"""`capwatch collect --metrics HOST:PORT`: the collector's Store as Prometheus metrics, through prometheus_client
(its registry, exposition and HTTP server; nothing hand-written).

Every series is read from the Store at scrape time, on the event loop that owns it (the HTTP server's thread asks
the loop and waits at most SCRAPE_TIMEOUT), so a scrape sees one consistent moment and costs nothing between
scrapes. Labels stay bounded whatever the fleet: service, kind, channel state, a delivery's result, and entity
statuses (at most STATUSES per kind, the rest summed as "other"); never an entity id, a company or a channel name
(a Capx fleet of 1,000 companies has 1,000 activity channels: they are counted by service and state).

    capwatch_events_total{service}                      counter: events handled (rate() gives events/s)
    capwatch_webhook_deliveries_total{result}           counter: accepted, duplicates, rejected_signature, refused...
    capwatch_channels{service,state}                    channels in each state
    capwatch_entities{kind,status}                      entities by kind and status
    capwatch_tasks_awaiting_approval, capwatch_agents_in_error
    capwatch_credits_remaining{service}, capwatch_credits_burn_rate_per_hour{service}
    capwatch_costs_usd, capwatch_costs_threshold_usd    summed over the companies whose costs are known
    capwatch_costs_over_threshold                       companies whose costs reached their threshold
    capwatch_costs_threshold_ratio_max                  the highest cost / threshold of any company
    capwatch_history_pending, capwatch_history_written_total, capwatch_history_dropped_total, capwatch_history_up
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Callable, Iterator

from tui.live.events import ChannelState
from tui.text import sanitize

SCRAPE_TIMEOUT = 5.0
STATUSES = 20  # statuses per kind with a series of their own (a status is a server's word: bounded here)
# The figures that hold credits, and their fields: (figure, service, remaining field, burn-rate field or None).
CREDIT_FIGURES = (("capout.credits", "capout", "credits_remaining", "burn_rate_per_hour"),
                  ("capx.credits", "capx", "remaining", None))


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9464`, `:9464` for every address) as (host, port); ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9464 (not {text!r})")
    return host.strip("[]") or "0.0.0.0", int(port)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _label(value: Any) -> str:
    return sanitize(str(value), single_line=True)[:64] or "unknown"


def read_store(store, history=None) -> dict[str, Any]:
    """What the metrics show, read from the Store (and the history writer) in one go, on the loop's thread."""
    entities: dict[tuple[str, str], int] = {}
    for kind, rows in store.entities.items():
        statuses = Counter(str(row.get("status") or "unknown") for row in rows.values())
        kept = statuses.most_common(STATUSES)
        for status, count in kept:
            entities[(kind, _label(status))] = count
        other = sum(statuses.values()) - sum(count for _status, count in kept)
        if other:
            entities[(kind, "other")] = other
    channels = Counter((health.service or "capwatch", health.state.value) for health in store.health.values())
    costs = [(total, threshold) for row in store.rows("costs").values()
             if (total := _number(row.get("total_usd"))) is not None
             for threshold in [_number(row.get("threshold_usd"))]]
    with_threshold = [(total, threshold) for total, threshold in costs if threshold]
    credits = {}
    for figure, service, remaining, rate in CREDIT_FIGURES:
        value = store.figures.get(figure)
        if isinstance(value, dict):
            credits[service] = (_number(value.get(remaining)), _number(value.get(rate)) if rate else None)
    receiver = store.health.get("webhooks")
    return {
        "events": {service: sum(by_type.values()) for service, by_type in store.counts.items()},
        "deliveries": dict(receiver.counters) if receiver is not None else {},
        "channels": channels,
        "entities": entities,
        "awaiting": sum(1 for row in store.rows("tasks").values() if row.get("status") == "awaiting_approval"),
        "agents_in_error": sum(1 for row in store.rows("agents").values() if row.get("status") == "error"),
        "credits": credits,
        "costs_usd": sum(total for total, _ in costs),
        "costs_threshold_usd": sum(threshold for _, threshold in with_threshold),
        "costs_over": sum(1 for total, threshold in with_threshold if total >= threshold),
        "costs_ratio_max": max((total / threshold for total, threshold in with_threshold), default=0.0),
        "history": history.status() if history is not None else None,
        "history_up": 1.0 if history is not None and history.state == "live" else 0.0,
    }


class StoreCollector:
    """A prometheus_client collector: asks `read()` for a reading at every scrape and words it as metric families."""

    def __init__(self, read: Callable[[], dict[str, Any]]):
        self.read = read

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        reading = self.read()
        for name, words, labels, key, counter in LABELED:
            family = (CounterMetricFamily if counter else GaugeMetricFamily)(name, words, labels=list(labels))
            for label_values, value in sorted(reading[key].items()):
                family.add_metric(list(label_values) if isinstance(label_values, tuple) else [label_values], value)
            yield family
        remaining = GaugeMetricFamily("capwatch_credits_remaining", "Credits remaining", labels=["service"])
        burn = GaugeMetricFamily("capwatch_credits_burn_rate_per_hour", "Credits spent per hour", labels=["service"])
        for service, (left, rate) in sorted(reading["credits"].items()):
            if left is not None:
                remaining.add_metric([service], left)
            if rate is not None:
                burn.add_metric([service], rate)
        yield remaining
        yield burn
        history = reading["history"]
        for name, words, key, counter in SINGLE + (HISTORY if history is not None else ()):
            value = reading[key] if key in reading else history[key]
            yield (CounterMetricFamily if counter else GaugeMetricFamily)(name, words, value=value)


# (name, help, labels, the reading's key, counter?): a series per label value.
LABELED = (
    ("capwatch_events", "Events handled, by service", ("service",), "events", True),
    ("capwatch_webhook_deliveries", "Webhook deliveries and connections, by what became of them", ("result",),
     "deliveries", True),
    ("capwatch_channels", "Channels in each state, by service", ("service", "state"), "channels", False),
    ("capwatch_entities", "Entities by kind and status", ("kind", "status"), "entities", False),
)
# (name, help, the reading's key, counter?): one series each.
SINGLE = (
    ("capwatch_tasks_awaiting_approval", "Capx tasks awaiting approval", "awaiting", False),
    ("capwatch_agents_in_error", "Capx agents in error", "agents_in_error", False),
    ("capwatch_costs_usd", "Capx costs this period, summed over companies", "costs_usd", False),
    ("capwatch_costs_threshold_usd", "Capx cost thresholds, summed over companies with one", "costs_threshold_usd",
     False),
    ("capwatch_costs_over_threshold", "Capx companies whose costs reached their threshold", "costs_over", False),
    ("capwatch_costs_threshold_ratio_max", "The highest cost / threshold of any company", "costs_ratio_max", False),
)
# The history writer's, from its status(); "up" is put in the reading by read_store.
HISTORY = (
    ("capwatch_history_up", "1 while the history database takes writes", "history_up", False),
    ("capwatch_history_pending", "Events waiting to be written", "pending", False),
    ("capwatch_history_written", "Events written to the history", "written", True),
    ("capwatch_history_dropped", "Events dropped (the database was away too long)", "dropped", True),
)


class MetricsServer:
    """The HTTP endpoint (prometheus_client's own server, in its thread) over a Store on `loop`."""

    def __init__(self, store, *, history=None, loop: asyncio.AbstractEventLoop):
        from prometheus_client import CollectorRegistry

        self.store, self.history, self.loop = store, history, loop
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(self._read))
        self._server = None
        self._thread = None
        self.address: tuple[str, int] | None = None

    def _read(self) -> dict[str, Any]:
        """From the HTTP thread: a reading taken on the loop (the Store is the loop's alone)."""
        async def read() -> dict[str, Any]:
            return read_store(self.store, self.history)

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(SCRAPE_TIMEOUT)

    def start(self, host: str, port: int) -> tuple[str, int]:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.address = self._server.server_address[:2]
        return self.address

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def states_text(store) -> str:
    """Channels by state, as the collector's log line says them: "live 12, reconnecting 1"."""
    counts = Counter(health.state.value for health in store.health.values())
    order = [state.value for state in ChannelState]
    return ", ".join(f"{state} {counts[state]}" for state in order if counts.get(state))
