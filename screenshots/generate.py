"""Regenerate screenshots/*.svg: one per tab at 120x40, from the demo world with a fixed seed, and one of an incident
(the server stopped: the banner, the stale look).

    .venv/bin/python screenshots/generate.py [--size 120x40] [--seconds 8]

The simulator runs in this process on a free port; the monitor runs headless against it (Textual's test
driver), so the pictures show exactly what an operator sees, with no terminal needed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from textual.widgets import Input, TabbedContent, TextArea  # noqa: E402

from tui.app.app import CapwatchApp  # noqa: E402
from tui.config import load_config  # noqa: E402
from tui.sim.core import SimOptions  # noqa: E402
from tui.sim.server import SimThread, free_port  # noqa: E402

TAB_KEYS = ["1", "2", "3", "4", "5", "6", "7"]


QUESTION = "Which contracts can be terminated early, and with what notice?"


async def until(pilot, condition, what: str, timeout: float = 15.0) -> None:
    """Wait for `condition`, or stop with `what` did not happen: a picture of the wrong thing is worse than none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit(f"screenshots: {what} within {timeout:.0f} s; nothing written for it")
        await pilot.pause(0.1)


async def show(pilot, key: str, tab: str) -> None:
    """Press the tab's key and wait until that tab is shown, its pane mounted, and no text field has the focus
    (a key typed into the question instead of switching tabs was how events.svg once showed the Query tab)."""
    app = pilot.app
    await pilot.press(key)
    await until(pilot, lambda: app.query_one(TabbedContent).active == tab and app.active_pane() is not None
                and app.active_pane().id == f"pane-{tab}", f"the {tab} tab was not shown after {key!r}")
    await until(pilot, lambda: not isinstance(app.focused, (Input, TextArea)),
                f"a text field kept the focus on the {tab} tab")


async def capture(app: CapwatchApp, size: tuple[int, int], seconds: float, out: Path, kill=None) -> list[Path]:
    """Every tab; then, with `kill` (stops the server), the Capx tab during the incident: banner and stale look."""
    written = []
    async with app.run_test(size=size) as pilot:
        await until(pilot, app.started_up.is_set, "the monitor did not start")
        await asyncio.sleep(seconds)  # let the world live a little: this is a picture, not a test
        for key, (tab, label) in zip(TAB_KEYS, CapwatchApp.TABS):
            await show(pilot, key, tab)
            await pilot.pause(0.5)
            if tab == "query":  # a question answered by the simulator's Captain, as an operator would ask it
                pane = app.query_one("#pane-query")
                await pilot.press(*QUESTION, "ctrl+r")
                await until(pilot, lambda: pane.editor.text == QUESTION, "the question was not typed whole")
                await until(pilot, lambda: not pane.running and pane.editor.text == QUESTION,
                            "the query did not finish", timeout=30)
                await pilot.pause(0.3)
            path = out / f"{tab}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            written.append(path)
        if kill is not None:
            await asyncio.to_thread(kill)
            await show(pilot, "4", "capx")
            # until every service the server serves has left live
            await until(pilot, lambda: {"capout", "capx", "captain"} <= app.hub.store.not_live().keys(),
                        "the services did not leave live", timeout=30)
            await pilot.pause(1.0)
            assert app.query_one(TabbedContent).active == "capx"
            path = out / "incident.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    webhook_port = free_port()
    options = SimOptions(port=0, seed=args.seed, rate=40.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    with SimThread(options) as sim:
        env = {**sim.options.client_env(), "CAPWATCH_WEBHOOK_PORT": str(webhook_port)}
        namespace = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                                       webhook_port=None, profile="demo")
        loaded = load_config(namespace, env=env)
        app = CapwatchApp(loaded.config, demo=True)
        written = asyncio.run(capture(app, (width, height), args.seconds, HERE, kill=sim.stop))
    for path in written:
        print(path.relative_to(HERE.parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
