"""Simulated CapOut: world state, routes, auth and error format. (Being written.)"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from tui.sim.core import VendorSim


class CapOutSim(VendorSim):
    name = "capout"
    prefix = "/capout"

    def routes(self) -> list[BaseRoute]:
        return []

    def error(self, status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
