"""CapOut behind the Integration interface: its client, the realtime channel (WebSocket or SSE) and the credits
poller, and the upload action."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Mapping

from tui.live.integration import Integration
from tui.text import sanitize_data
from tui.vendors.capout.client import CapOutClient, UploadResponse
from tui.vendors.capout.live import CapOutCredits, CapOutRealtime, document_event

CREDITS = "capout.credits"  # the figure the credits poller sets


class CapOutIntegration(Integration):
    snapshot_parts = ("capout.documents", CREDITS)
    actions = {"upload": ("xn_address", "path", "url", "file_name")}

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        self.client = CapOutClient(settings.base_url, api_key=settings.api_key_value, read_only=self.read_only)
        self.realtime: CapOutRealtime | None = None  # once started

    async def start(self, *, snapshot: bool = False) -> None:
        self.realtime = CapOutRealtime(self.client, self.store, transport=self.settings.transport,
                                       recent=self.settings.recent)
        self.hub.spawn(self.realtime.run(), self.realtime.name)
        self.hub.spawn(CapOutCredits(self.client, self.store).run(), CREDITS)

    def figure_lines(self, figures: Mapping[str, Any]) -> list[str]:
        credits = figures.get(CREDITS) or {}
        if not credits:
            return []
        return [f"capout credits   {credits.get('credits_remaining')} of {credits.get('credits_total')} remaining"]

    # ------------------------------------------------------------------------------------------- actions

    async def upload(self, *, xn_address: str, path: str | None = None, url: str | None = None,
                     file_name: str | None = None) -> UploadResponse:
        """Upload a local file (`path`) or have CapOut fetch `url`; the document is followed from then on."""
        if path:
            content = Path(path).expanduser().read_bytes()
            reply = await self.client.upload(file_name or Path(path).name, xn_address,
                                             file_base64=base64.b64encode(content).decode())
        else:
            reply = await self.client.upload(
                file_name or (url or "").rstrip("/").rsplit("/", 1)[-1] or "document", xn_address, url=url)
        row = sanitize_data(reply.model_dump(mode="json"))
        row.setdefault("file_name", file_name or Path(path or url or "").name)
        row["updated_at"] = row.get("created_at")
        event = document_event({**row, "type": "document.uploaded"})
        if event is not None:
            self.store.apply(event, "action")
        if self.realtime is not None:
            await self.realtime.follow(reply.document_id)
        return reply
