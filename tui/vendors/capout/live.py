"""CapOut live: document status over WebSocket (default) or SSE with short-lived tokens, and credits.

The scope of a connection is the documents this client uploaded plus `recent=N` (the organization's
latest documents, new ones included). A token that expires closes the connection (WebSocket 4001, SSE end);
we mint a new one and reopen with the same scope at once. The backfill the server sends on connect is our
resync; documents we track that fell out of it are re-read with GET /status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tui.live.channel import Channel, Poller, StreamEnded, describe_error
from tui.live.events import Event, bad_message_event, iso_utc, load_json, parse_timestamp
from tui.live.sse import SSEReader
from tui.live.store import Store
from tui.api import STREAM_READ_TIMEOUT, ApiError
from tui.vendors.capout.client import CapOutClient, realtime_url
from tui.text import json_text_is_clean, sanitize_data

TERMINAL = {"completed", "failed"}
RESYNC_LIMIT = 100  # documents re-read one by one after a reconnect, at most
WS_CLOSE_WORDS = {
    1000: "closed normally",
    1001: "server going away",
    1006: "connection lost",
    1011: "server error",
    1012: "server restarting",
    4001: "token expired",
}


# The fields of a realtime message or a GET /status reply that a document's row keeps: the documented ones, and
# `error`, why it failed, when the server says (the contract's CapOut error object, `{"code", "message"}`).
DOCUMENT_FIELDS = ("document_id", "file_name", "status", "workflow_complete", "completed_at", "updated_at",
                   "created_at", "workflow_id", "error")
_MESSAGE_FIELDS = frozenset((*DOCUMENT_FIELDS, "type"))


def document_event(payload: dict[str, Any], *, received: float | None = None, sanitized: bool = False) -> Event | None:
    """A realtime message or a GET /status reply as a normalized event; None when it names no document.
    `sanitized`: the payload is already clean (decoded from a text `json_text_is_clean` passed), used as is."""
    data = payload if sanitized else sanitize_data(payload)
    document_id = data.get("document_id")
    if not isinstance(document_id, str) or not document_id:
        return None
    if data.keys() <= _MESSAGE_FIELDS:  # the usual message: a copy without "type" (one set check, no key loop)
        patch = dict(data)
        patch.pop("type", None)
    else:
        patch = {k: data[k] for k in DOCUMENT_FIELDS if k in data}
    now = received or time.time()
    # Positional (time, service, type, id, data, kind, patch, received): twice as fast as keywords, per event.
    return Event(parse_timestamp(data.get("updated_at")) or now, "capout", str(data.get("type") or "document.status"),
                 document_id, data, "documents", patch, now)


def already_known(store: Store, event: Event) -> bool:
    """Whether a document event only repeats the state the Store has (a reconnect's backfill, a resync), or
    is older than it: applying it would show an update twice, or undo a newer one."""
    if event.kind is None or event.patch is None or not event.id:
        return False
    row = store.get(event.kind, event.id)
    return row is not None and _known(row, event.patch)


def _known(row: dict[str, Any], patch: dict[str, Any]) -> bool:
    """`already_known` for an entity the Store has as `row`."""
    if row.items() >= patch.items():  # every field as we have it (the views compare in C, per document event)
        return True
    # Older than what we have (a resync reply read before a live update that was applied first): stale.
    ours, theirs = parse_timestamp(row.get("updated_at")), parse_timestamp(patch.get("updated_at"))
    return ours is not None and theirs is not None and theirs < ours


class CapOutRealtime(Channel):
    service = "capout"

    def __init__(self, client: CapOutClient, store: Store, *, transport: str = "ws", recent: int = 50, **kwargs):
        super().__init__(f"capout.{transport}", store, **kwargs)
        self.client = client
        self.transport = transport
        self.recent = recent
        self.uploaded: set[str] = set()  # documents this client uploaded: always in scope
        self.sse = SSEReader()
        self._socket = None
        self._full_backfill = False
        self.organization_id: str | None = None  # whose documents these are (the token says)

    async def follow(self, document_id: str) -> None:
        """Add a document to the scope, now (WebSocket subscribe) and on every reconnect."""
        self.uploaded.add(document_id)
        socket = self._socket
        if socket is not None:
            try:
                await socket.send(json.dumps({"action": "subscribe", "document_ids": [document_id]}))
            except ConnectionClosed:
                pass  # the reconnect includes it in the scope

    def lost_message(self) -> None:
        self._full_backfill = True  # resuming would skip the lost update: reconnect for the whole backfill
        super().lost_message()

    def retry_on_auth_error(self, error: ApiError) -> bool:
        return False  # minting failed with 401: the API key is wrong, retrying cannot help

    async def session(self) -> None:
        token = await self.client.mint_token()
        organization = getattr(token, "organization_id", None)
        if organization and self.organization_id and organization != self.organization_id:
            self.forget_organization(organization)
        self.organization_id = organization or self.organization_id
        path = token.ws_url if self.transport == "ws" else token.sse_url
        url = realtime_url(self.client.base_url, path or f"/{self.transport}/status", token=token.token,
                           transport=self.transport, document_ids=sorted(self.uploaded), recent=self.recent)
        if self.transport == "ws":
            await self._websocket(url)
        else:
            await self._server_sent_events(url)

    def forget_organization(self, organization: str) -> None:
        """The server answers for another organization (its data was reset): the documents of the old one are
        gone from it. The backfill that follows brings the new one's."""
        gone = list(self.store.rows("documents"))
        self.store.apply(Event(time=time.time(), service="capout", type="organization.changed", id=organization,
                               data={"organization_id": organization, "documents_dropped": len(gone)}), "resync")
        self.store.replace("documents", {})
        self.uploaded.clear()

    async def _websocket(self, url: str) -> None:
        # Pings every 5 s, answered within 10: a hung server (a stopped process, a partition) is noticed within
        # 15 s, not the 40 s of the library's defaults.
        try:
            async with ws_connect(url, open_timeout=10, ping_interval=5, ping_timeout=10, close_timeout=2,
                                  max_size=1 << 20, user_agent_header="capwatch") as socket:
                self._socket = socket
                self.mark_live()
                resync = asyncio.create_task(self.resync_beside())
                try:
                    async for message in socket:
                        self.handle(message)
                finally:
                    self._socket = None
                    resync.cancel()
                code = socket.close_code
        except InvalidStatus as error:
            status = error.response.status_code
            if status == 401:
                raise StreamEnded("realtime token refused (401); minting a new one", immediate=True) from error
            raise StreamEnded(f"WebSocket handshake answered HTTP {status}") from error
        except ConnectionClosed as error:
            code = error.rcvd.code if error.rcvd else 1006
        self._raise_for_close(code)

    def _raise_for_close(self, code: int | None) -> None:
        words = WS_CLOSE_WORDS.get(code or 1006, "closed")
        if code == 4001:
            raise StreamEnded("token expired (close 4001); minting a new one", immediate=True)
        raise StreamEnded(f"WebSocket {words} (close {code})", lost_server=(code or 1006) == 1006)

    async def _server_sent_events(self, url: str) -> None:
        timeout = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT)
        if self._full_backfill:
            self.sse.last_event_id, self._full_backfill = None, False
        async with self.client.http.stream("GET", url, headers=self.sse.request_headers(), timeout=timeout) as reply:
            if reply.status_code == 401:
                raise StreamEnded("realtime token refused (401); minting a new one", immediate=True)
            if reply.status_code >= 400:
                await reply.aread()
                raise self.client.error_from(reply)
            self.mark_live()
            resync = asyncio.create_task(self.resync_beside())
            try:
                async for message in self.sse.events(reply):
                    self.handle(message.data)
            finally:
                resync.cancel()
        # The server ends the stream when the token expires: mint again at once.
        raise StreamEnded("stream ended (token expiry or server close); minting a new one", immediate=True)

    def handle(self, raw: str | bytes) -> None:
        now = time.time()
        if not raw:  # an empty SSE `data:` (or WS frame): the format wants a JSON object; no update was in it
            self.bad_message(raw, "an empty message", lost=False)
            return
        try:
            payload = load_json(raw)
        except (ValueError, UnicodeDecodeError) as error:
            self.bad_message(raw, f"not JSON: {error}")
            return
        # `type` is the contract's addition, not the vendor's: an object naming a document is its status anyway.
        if not isinstance(payload, dict) or not (payload.get("type") or payload.get("document_id")):
            self.bad_message(raw, "not a JSON object with a type")
            return
        event = document_event(payload, received=now, sanitized=json_text_is_clean(raw))
        if event is None:  # a message we do not understand: shown raw, not applied
            data = sanitize_data(payload)
            event = Event(time=now, service="capout", type=str(data.get("type") or "message"), id="", data=data)
        self.store.note_event(self.name, now)  # Channel.note_event, one call less per event
        patch = event.patch
        if patch is None:
            self.store.apply(event)
            return
        row = self.store.get("documents", event.id)  # once: this runs for every document event
        if row is None:
            if "created_at" not in patch:
                # Realtime messages carry no created_at (only the upload reply does): keep when we first saw it.
                patch["first_seen_at"] = iso_utc(event.time)
            self.store.apply(event)
        elif not _known(row, patch):  # a backfill after a reconnect repeats what we have
            self.store.apply(event)

    async def resync_beside(self) -> None:
        """The resync as a task beside the stream: it never holds the stream up, and its failure is shown (the
        next reconnect resyncs again), not lost."""
        try:
            await self.resync()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.store.record_error(self.name, f"resync: {describe_error(error)}")

    async def resync(self) -> None:
        """Re-read tracked documents that are still open and were not in the backfill."""
        await asyncio.sleep(1.0)  # let the backfill arrive first
        documents = self.store.rows("documents")
        stale = [doc_id for doc_id, row in documents.items() if row.get("status") not in TERMINAL]
        stale += [doc_id for doc_id in self.uploaded if doc_id not in documents]
        for document_id in stale[:RESYNC_LIMIT]:
            try:
                status = await self.client.status(document_id)
            except ApiError as error:
                if error.status == 404:  # the server no longer knows it: gone, not processing for ever
                    self.forget(document_id, str(error))
                    continue
                raise
            event = document_event(status.model_dump(mode="json"))
            if event is not None and not already_known(self.store, event):
                self.store.apply(event, "resync")
        self.store.mark_complete("capout.documents")

    def forget(self, document_id: str, reason: str) -> None:
        self.uploaded.discard(document_id)
        if self.store.get("documents", document_id) is not None:
            self.store.apply(Event(time=time.time(), service="capout", type="document.gone", id=document_id,
                                   data={"document_id": document_id, "error": reason}), "resync")
            self.store.remove("documents", document_id)


class CapOutCredits(Poller):
    """GET /credits every 30 s; keeps the last samples so the burn rate and time to empty can be shown."""

    service = "capout"

    def __init__(self, client: CapOutClient, store: Store, every: float = 30.0):
        super().__init__("capout.credits", store)
        self.client = client
        self.every = every
        self.samples: deque[tuple[float, float]] = deque(maxlen=120)

    def interval(self) -> float:
        return self.every

    async def poll(self) -> None:
        credits = await self.client.credits()
        remaining = credits.credits_remaining
        now = time.time()
        if remaining is not None:
            self.samples.append((now, float(remaining)))
        figure = sanitize_data(credits.model_dump(mode="json"))
        figure.update(burn_rate_per_hour=burn_rate(self.samples), observed_at=now)
        rate = figure["burn_rate_per_hour"]
        figure["hours_to_empty"] = (remaining / rate) if rate and remaining is not None and rate > 0 else None
        self.store.set_figure("capout.credits", figure)
        self.store.mark_complete("capout.credits")


def burn_rate(samples: "deque[tuple[float, float]] | list[tuple[float, float]]") -> float | None:
    """Credits spent per hour over the samples kept (None until two samples span a few seconds)."""
    if len(samples) < 2:
        return None
    (t0, first), (t1, last) = samples[0], samples[-1]
    if t1 - t0 < 5:
        return None
    return max(0.0, (first - last) / (t1 - t0) * 3600)
