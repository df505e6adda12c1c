"""`capwatch history`: recorded events, as `capwatch tail` prints live ones. Reads the database only: no vendor
connection, no key, every server may be down."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # `capwatch --help` imports this module for the flags: nothing more at import
    from tui.history.records import Query, Record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per line (as `tail --json`)")
    parser.add_argument("--since", metavar="WHEN", type=_when,
                        help="from this time: 10m, 2h, 7d ago, or an ISO time (local without a zone)")
    parser.add_argument("--until", metavar="WHEN", type=_when, help="up to this time (same forms)")
    parser.add_argument("--service", action="append", metavar="S", help="only these services (repeatable)")
    parser.add_argument("--type", metavar="GLOB", help="only event types matching this glob, e.g. 'task.*'")
    parser.add_argument("--grep", metavar="TEXT", help="only events whose JSON line holds TEXT (any case)")
    parser.add_argument("--limit", metavar="N", type=_positive, help="only the newest N matches (still oldest first)")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """`capwatch replay`'s (tui/app/replay.py runs it)."""
    parser.add_argument("--since", metavar="WHEN", type=_when, default=None,
                        help="from this time: 10m, 2h ago, or an ISO time (default: 1h ago)")
    parser.add_argument("--until", metavar="WHEN", type=_when, help="up to this time (default: the end)")
    parser.add_argument("--speed", metavar="N", type=_speed, default=1.0, help="1 to 100 times the recorded pace")
    parser.add_argument("--demo", action="store_true", help="replay the demo's history (demo-history.sqlite3)")


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("a speed from 1 to 100")
    return value


def _when(text: str) -> float:
    from tui.history.records import parse_when

    try:
        return parse_when(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return value


def query_from_args(args: argparse.Namespace) -> Query:
    from tui.history.records import Query

    return Query(since=args.since, until=args.until, services=tuple(args.service or ()), type_glob=args.type,
                 grep=args.grep or None, limit=args.limit)


def format_record(record: Record) -> str:
    """`tail`'s line, with the date in front (a history spans days)."""
    from tui.headless import format_event

    return time.strftime("%Y-%m-%d ", time.localtime(record.event.time)) + format_event(record.event)


def unreadable(setting) -> int:
    """0 when the history `setting` names can be read; else says why on stderr and returns the exit code."""
    if not setting.enabled:
        print("capwatch: history is off (history = \"off\"): nothing is recorded", file=sys.stderr)
        return 2
    if setting.backend == "sqlite" and not setting.path.exists():
        print(f"capwatch: no history recorded yet at {setting.describe()}", file=sys.stderr)
        return 1
    return 0


def run_history(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from tui.config import load_config
    from tui.history.core import History
    from tui.history.recording import setting_for

    # The history setting as the monitor reads it: file < CAPWATCH_HISTORY < --history (checked by the config);
    # --demo: the demo's own file.
    setting = setting_for(load_config(args).config, demo=getattr(args, "demo", False))
    refused = unreadable(setting)
    if refused:
        return refused
    history = History(setting)
    try:
        import asyncio

        return asyncio.run(_print(history, query_from_args(args), args.json, out))
    except KeyboardInterrupt:
        return 130


async def _print(history, query: Query, as_json: bool, out: TextIO) -> int:
    import json

    try:
        async for records in history.scan(query):
            lines = [json.dumps(r.to_json_dict(), ensure_ascii=False, default=str) if as_json else format_record(r)
                     for r in records]
            try:
                out.write("\n".join(lines) + "\n")
                out.flush()
            except BrokenPipeError:  # `capwatch history | head`: the reader left
                return 0
    except Exception as error:
        from tui.history.core import describe_error

        if _missing_table(error):
            print(f"capwatch: no history recorded yet at {history.describe()}", file=sys.stderr)
            return 1
        print(f"capwatch: cannot read the history at {history.describe()}: {describe_error(error)}", file=sys.stderr)
        return 1
    finally:
        await history.close()
    return 0


def _missing_table(error: Exception) -> bool:
    text = str(error)
    return "no such table" in text or "does not exist" in text and "capwatch_" in text
