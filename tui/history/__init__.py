"""The event history: an append-only log of everything the live layer handles, on SQLite (embedded, the default)
or PostgreSQL (a team's), for `capwatch history`, the monitor's start from history, replay and team mode.

No Textual import here, and nothing heavy at import: the PostgreSQL driver (asyncpg, chosen over psycopg 3 by
measurement: tui/history/postgres.py says why) is imported when a PostgreSQL history is first opened.

What is recorded, one row per event (`capwatch_events`):

    seq        increasing in commit order (a follower's cursor: `tail_after(seq)`)
    time       the event's time (the server's timestamp, else receipt), epoch seconds: what queries filter on
    received   when capwatch received it
    service    capout, casmo, capx, captain, or capwatch (the app's own: channel state changes, errors)
    type       the event type (`document.completed`, `channel.reconnecting`, ...)
    entity_id  the entity it concerns, or ""
    kind       the Store's entity kind it updates (`documents`, `tasks`, ...), or NULL
    origin     where it came from: stream, webhook, poll, resync, action, figure, app
    data       the vendor payload, sanitized, as JSON
    patch      what the Store merged into entities[kind][entity_id], as JSON (NULL: timeline only)

Replay rebuilds the Store by applying the rows in seq order: `Store.apply(record.event)` for every origin (the
event's kind and patch carry the entity update), with these conventions for what is not a timeline event today
(the later task that hooks the live layer writes them so): origin `figure` with `entity_id` the figure's name and
`data` its value (`Store.set_figure`); an entity removed as `type` "entity.removed" with its kind and id and no
patch (`Store.remove`). Indexes: (time), (service, time), (type, time); `capwatch_event_types` catalogs the
types seen, so a `--type` glob becomes an indexed `type IN (...)` with fnmatch's exact semantics.

Secrets are never written: events carry none (tests/history/test_secrets.py checks a recorded demo), and the
writer masks any configured key or webhook secret should one ever appear in a payload.
"""

# Lazy (PEP 562): `capwatch --help` imports tui.history.command for its flags and must not pay for the rest.
_EXPORTS = {
    "DEFAULT_MAX_AGE": "core", "DEFAULT_MAX_BYTES": "core", "History": "core", "HistoryUnavailable": "core",
    "Query": "records", "Record": "records", "parse_duration": "records", "parse_when": "records",
    "ENV_VARIABLE": "setting", "HistorySetting": "setting", "HistorySettingError": "setting",
    "default_path": "setting", "parse_setting": "setting",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tui.history' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"tui.history.{module}"), name)
