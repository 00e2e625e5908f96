"""The simulator's own routes, beside any host's (no key, no faults):

    GET  /_sim/ledger                 what was billed and every API call (:func:`.fetch_ledger`)
    GET|POST|DELETE /_sim/faults      the scripted fault queue (:class:`.Fault`)
    POST /_sim/reset                  forget jobs, ledger, faults and the rate window
    GET  /_sim/health                 {"ok": true, "models": [...]}
    GET  /_sim/assets/{sha}.{ext}     an uploaded image (Segmind Storage's file URLs)

Errors are ``{"error": message}``. :mod:`.client` calls these routes from Python.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from veolab.simserver.config import Fault
from veolab.simserver.state import SimState

_FAULTS = TypeAdapter(list[Fault])


def routes(state: SimState) -> list[BaseRoute]:
    admin = Admin(state)
    return [
        Route("/_sim/ledger", admin.ledger, methods=["GET"]),
        Route("/_sim/faults", admin.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/reset", admin.reset, methods=["POST"]),
        Route("/_sim/health", admin.health, methods=["GET"]),
        Route("/_sim/assets/{name}", admin.asset, methods=["GET"]),
    ]


class Admin:
    """The handlers of ``/_sim/*`` over one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def ledger(self, request: Request) -> Response:
        return JSONResponse(self.state.ledger_json())

    async def faults(self, request: Request) -> Response:
        faults = self.state.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            try:
                data = json.loads(await request.body())
                if isinstance(data, dict):
                    data = data.get("faults", [data]) if "faults" in data else [data]
                faults.extend(_FAULTS.validate_python(data))
            except (ValueError, ValidationError) as exc:
                message = f"bad fault: {' '.join(str(exc).split())[:300]}"
                return JSONResponse({"error": message}, 400)
        return JSONResponse({"faults": [f.model_dump() for f in faults]})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "models": list(self.state.config.models)})

    async def asset(self, request: Request) -> Response:
        sha = request.path_params["name"].split(".")[0]
        if sha not in self.state.assets:
            return JSONResponse({"error": "asset not found"}, 404)
        mime, data = self.state.assets[sha]
        return Response(data, media_type=mime)
