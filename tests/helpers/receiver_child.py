"""The real webhook receiver alone in a child process, for tests that must lower its file limit.

    python -m tests.helpers.receiver_child SECRET

Prints `ready PORT` once it listens, then answers one command per line on stdin:
- `probe URL`: a GET with httpx on a new connection, as capwatch's own clients make them: `probe 200` or
  `probe error <ExceptionName>`;
- `hog`: open /dev/null until the file limit refuses (what another part of the process could do): `hog N`;
- `release`: close what `hog` opened: `release N`;
- `counts`: the receiver's counts as one JSON line;
- `quit`.
Nothing configures logging, as in `capwatch tail`: what the receiver logs reaches stderr the way it would there.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx

from tui.live.webhooks import WebhookReceiver


async def main(secret: str) -> None:
    receiver = WebhookReceiver(port=0, secrets={"casmo": secret}, on_delivery=lambda *args: None)
    await receiver.start()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    hogged: list[int] = []
    print(f"ready {receiver.port}", flush=True)
    try:
        while line := (await stdin.readline()).decode().split():
            command = line[0]
            if command == "probe":
                try:
                    async with httpx.AsyncClient(timeout=5) as http:
                        reply = await http.get(line[1])
                    print(f"probe {reply.status_code}", flush=True)
                except Exception as error:  # the answer is the error's name
                    print(f"probe error {type(error).__name__}", flush=True)
            elif command == "hog":
                while len(hogged) < 100_000:
                    try:
                        hogged.append(os.open(os.devnull, os.O_RDONLY))
                    except OSError:
                        break
                print(f"hog {len(hogged)}", flush=True)
            elif command == "release":
                for fd in hogged:
                    os.close(fd)
                print(f"release {len(hogged)}", flush=True)
                hogged.clear()
            elif command == "counts":
                print(json.dumps(receiver.counts), flush=True)
            elif command == "quit":
                break
    finally:
        await receiver.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
