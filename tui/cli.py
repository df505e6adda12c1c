"""The `capwatch` command line. Imports are deferred to each command so `capwatch --help` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from tui import __version__


def _metrics_address(text: str) -> tuple[str, int]:
    """`--metrics HOST:PORT`, checked as it is parsed. tui.metrics (asyncio, the Prometheus client) is imported
    only then: `capwatch --help` pays nothing for team mode (importing tui.collect for its flag cost 70 ms)."""
    from tui.metrics import parse_address

    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_config_flags(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """Flags that override the config file and the environment (the last and strongest source).

    They are accepted before and after the command (`capwatch --config X status` and `capwatch status --config
    X`); a subcommand's copies default to SUPPRESS so they never overwrite a value given before the command.
    """
    unset = {"default": argparse.SUPPRESS} if subcommand else {}
    group = parser.add_argument_group("configuration (file < environment < these flags)")
    group.add_argument("--config", metavar="PATH", help="config file (default: $CAPWATCH_CONFIG or the user config dir)",
                       **unset)
    group.add_argument("--read-only", action="store_true", help="refuse every mutating action",
                       **(unset or {"default": None}))
    group.add_argument("--transport", choices=["ws", "sse"], help="CapOut realtime transport", **unset)
    group.add_argument("--webhook-host", metavar="HOST", help="bind address of the local webhook receiver", **unset)
    group.add_argument("--webhook-port", metavar="PORT", type=int, help="port of the local webhook receiver", **unset)
    group.add_argument("--profile", metavar="NAME", help="a name for this set of services, shown in the header",
                       **unset)
    group.add_argument("--history", metavar="WHERE", help="the event history: a path, sqlite:///PATH, "
                       "postgresql://... or off (default: $XDG_DATA_HOME/capwatch/history.sqlite3)", **unset)
    group.add_argument("--source", metavar="URL", help="team mode: run from the history a `capwatch collect` writes "
                       "(postgresql://...), with no vendor connection of its own", **unset)


def _fault_spec(value: str) -> str:
    """`--faults`, checked as it is parsed: a bad spec is one line naming what is wrong, not a traceback."""
    if not value.strip():
        return value
    from tui.sim.core import Faults

    try:
        Faults.parse(value)
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _add_sim_flags(parser: argparse.ArgumentParser, *, port_default: int | None) -> None:
    parser.add_argument("--seed", type=int, help="make the world repeatable")
    parser.add_argument("--world", type=int, metavar="N",
                        help="world N of the seed: 2 is the new world `POST /_admin/new-world` makes of 1 (new ids, "
                             "some companies gone), as a server back from a data reset (default 1)")
    parser.add_argument("--rate", type=float, help="world events per second, all services together (default 4)")
    parser.add_argument("--token-ttl", type=float, metavar="S", help="CapOut realtime token lifetime (default 900)")
    parser.add_argument(
        "--faults",
        metavar="SPEC",
        default="",
        type=_fault_spec,
        help="comma-separated: drop=S, close=CODE, errors=SHARE, throttle=SHARE, latency=MS, drip=MS, "
        "framing, malformed=SHARE, hostile, first='METHOD /path glob:N' (its first N requests fail with 500)",
    )
    parser.add_argument("--companies", type=_at_least_one, metavar="N",
                        help="Capx companies at start, each with agents, tasks and an activity stream (default 5)")
    parser.add_argument("--plan", choices=["starter", "pro", "enterprise"],
                        help="Capx plan enforced per key: starter 60 requests/min and 10 in flight, pro 300 and 50, "
                             "enterprise 6000 and 500 (default: 60/min, no limit in flight)")
    parser.add_argument("--rate-limit", type=_at_least_one, metavar="N",
                        help="Capx requests per rolling minute (overrides the plan's)")
    parser.add_argument("--concurrency", type=_at_least_one, metavar="N",
                        help="Capx requests in flight at once (overrides the plan's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capwatch",
        description="Watch CapOut, Casmo AI, Capx and Captain live from one terminal.",
        epilog="Run `capwatch demo` to try it on the built-in simulator, with no keys and no network.",
    )
    parser.add_argument("--version", action="version", version=f"capwatch {__version__}")
    _add_config_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("monitor", help="the monitor on the configured services (the default)")
    _add_config_flags(commands.choices["monitor"], subcommand=True)

    demo = commands.add_parser("demo", help="the monitor on a simulator started for it (no keys needed)")
    _add_sim_flags(demo, port_default=None)
    demo.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS, help="refuse every mutating action")
    demo.add_argument("--transport", choices=["ws", "sse"], default=argparse.SUPPRESS, help="CapOut realtime transport")
    demo.add_argument("--history", metavar="WHERE", default=argparse.SUPPRESS,
                      help="where the demo records (default: demo-history.sqlite3 beside the default history)")
    # The demo's own webhook receiver (its simulator sends Casmo and Capx webhooks to it): another port when the
    # default one is taken, before or after `demo`.
    demo.add_argument("--webhook-host", metavar="HOST", default=argparse.SUPPRESS,
                      help="bind address of the local webhook receiver")
    demo.add_argument("--webhook-port", metavar="PORT", type=int, default=argparse.SUPPRESS,
                      help="port of the local webhook receiver")

    sim = commands.add_parser("sim", help="serve a simulator of all four APIs")
    sim.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    _add_sim_flags(sim, port_default=8765)
    sim.add_argument("--webhook-url", metavar="URL", type=_http_url,
                     help="send Casmo and Capx webhooks to URL/webhooks/<service>")
    sim.add_argument("--print-env", action="store_true", help="print the export lines that point capwatch at it, then serve")

    # init's flags come from the config model (one per setting it writes): tui.config.init parses them, so that
    # `capwatch --help` and the other commands do not import the model for them. prefix_chars "\0": every argument
    # after `init` is handed on as it is.
    commands.add_parser("init", help="write a config file (keys from a silent prompt, stdin or the environment)",
                        add_help=False, prefix_chars="\0")

    status = commands.add_parser(
        "status", help="one snapshot of every service, as a table or JSON",
        epilog="exit status, with or without --source: 0 a complete snapshot with no service down (a partial outage, "
               "some of a fleet's streams not live, is reported under NOT LIVE and in \"outages\", not an error); "
               "1 a part is missing (no complete snapshot before --wait ran out) or a service is down, as the "
               "monitor's banner says it; 2 a usage or config error. Capx: status spends at most a tenth of the key's "
               "minute (at least 20 requests), and nothing of its last 30 %, which a running monitor keeps: the "
               "company listing, then the agents, tasks and costs of as many companies as that allows; the rest is "
               "said under NOT READ and in \"not_read\"")
    _add_config_flags(status, subcommand=True)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--wait", type=float, default=5.0, metavar="S", help="how long to gather (default 5)")

    tail = commands.add_parser("tail", help="the live event stream, one line (or JSON object) per event")
    _add_config_flags(tail, subcommand=True)
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--service", action="append", metavar="S", help="only these services (repeatable)")
    tail.add_argument("--type", metavar="PATTERN", help="only event types matching this glob, e.g. 'task.*'")

    collect = commands.add_parser("collect", help="team mode: every vendor connection and the webhook receiver, "
                                  "written to the history database that monitors follow with --source")
    _add_config_flags(collect, subcommand=True)
    collect.add_argument("--metrics", metavar="HOST:PORT", type=_metrics_address,
                         help="serve Prometheus metrics there (e.g. 127.0.0.1:9464)")

    from tui.history.command import add_arguments as add_history_arguments  # argparse only: no database import
    from tui.history.command import add_replay_arguments

    history = commands.add_parser("history", help="recorded events, as tail prints them (no server needed)")
    _add_config_flags(history, subcommand=True)
    add_history_arguments(history)
    history.add_argument("--demo", action="store_true", help="the demo's history (demo-history.sqlite3)")

    replay = commands.add_parser("replay", help="the monitor on a recorded period, read-only (no server needed)")
    _add_config_flags(replay, subcommand=True)
    add_replay_arguments(replay)
    return parser


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return number


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError("expected an http:// or https:// URL with a host")
    try:
        parts.port  # a port out of range or not a number
    except ValueError:
        raise argparse.ArgumentTypeError("the URL's port is not a port number") from None
    return value


def _sim_options(args: argparse.Namespace):
    from tui.sim.core import Faults, SimOptions

    options = SimOptions()
    for name in ("host", "port", "seed", "world", "rate", "token_ttl", "webhook_url"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(options, name, value)
    # Keys and secrets can be overridden from the environment, with the same names clients use.
    env_keys = {
        "CAPOUT_API_KEY": "capout_api_key",
        "CASMO_API_KEY": "casmo_api_key",
        "CASMO_WEBHOOK_SECRET": "casmo_webhook_secret",
        "CAPX_API_KEY": "capx_api_key",
        "CAPX_WEBHOOK_SECRET": "capx_webhook_secret",
        "CAPTAIN_API_KEY": "captain_api_key",
        "CAPTAIN_ORGANIZATION_ID": "captain_organization_id",
    }
    for variable, attribute in env_keys.items():
        if os.environ.get(f"CAPWATCH_SIM_{variable}"):
            setattr(options, attribute, os.environ[f"CAPWATCH_SIM_{variable}"])
    options.faults = Faults.parse(args.faults or "")
    _capx_plan_options(options, args)
    return options


def _capx_plan_options(options, args: argparse.Namespace) -> None:
    from tui.sim.capx_limits import PLANS

    if getattr(args, "companies", None):
        options.capx_companies = args.companies
    if getattr(args, "plan", None):
        options.capx_rate_limit, options.capx_concurrency = PLANS[args.plan]
    if getattr(args, "rate_limit", None):
        options.capx_rate_limit = args.rate_limit
    if getattr(args, "concurrency", None):
        options.capx_concurrency = args.concurrency


def run_sim(args: argparse.Namespace) -> int:
    from tui.sim.server import serve

    options = _sim_options(args)
    if args.print_env:
        for name, value in options.client_env().items():
            print(f"export {name}={value}")
        if options.webhook_url:
            print(f"# webhooks go to {options.webhook_url.rstrip('/')}/webhooks/{{casmo,capx}}")
        sys.stdout.flush()
    print(f"capwatch sim serving on http://{options.host}:{options.port} (Ctrl-C stops)", file=sys.stderr)
    serve(options)
    return 0


class _NotTheMonitorAlone(Exception):
    """The words given are more than the monitor's own flags: the whole command line's parser reads them."""


class _MonitorFlagsParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _NotTheMonitorAlone(message)


def _monitor_alone(argv: Sequence[str] | None) -> argparse.Namespace | None:
    """`capwatch [config flags]`, the monitor, read by a parser of those flags alone: building every command's
    parser (`build_parser`) costs ~7 ms of CPU before the first frame, a fifth of what capwatch's own imports do.
    None for anything else (a command, --help, --version, a word or flag it does not know, a bad value): the whole
    parser reads those, so usage, help and errors are the same as ever."""
    parser = _MonitorFlagsParser(prog="capwatch", add_help=False)
    _add_config_flags(parser)
    parser.set_defaults(command=None)
    try:
        args, rest = parser.parse_known_args(argv)
    except _NotTheMonitorAlone:
        return None
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    parser: argparse.ArgumentParser | None = None
    args, rest = _monitor_alone(argv), []
    if args is None:
        parser = build_parser()
        args, rest = parser.parse_known_args(argv)
    command = args.command or "monitor"
    if rest and command != "init":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if command == "sim":
            return run_sim(args)
        if command == "init":
            from tui.config.init import main as init

            return init(rest, config=getattr(args, "config", None))
        if command in ("status", "tail"):
            from tui.headless import run_headless

            return run_headless(command, args)
        if command == "collect":
            from tui.collect import run_collect

            return run_collect(args)
        if command == "history":
            from tui.history.command import run_history

            return run_history(args)
        if command == "replay":
            from tui.app.replay import run_replay

            return run_replay(args)
        if command in ("monitor", "demo"):
            from tui.app.launch import run_monitor

            return run_monitor(command, args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        from tui.config import ConfigError

        if isinstance(error, ConfigError):
            print(f"capwatch: {error}", file=sys.stderr)
            return 2
        raise
    (parser or build_parser()).error(f"unknown command {command!r}")
    return 2
