"""Faults in front of any simulated host: scripted or random errors, lost and cut answers.

A host's protocol module (:mod:`.segmind`) wraps each of its handlers with a
:class:`FaultInjector`, which takes the route's next :class:`~.config.Fault` from the state,
answers, stalls, drops or truncates as it says, turns :class:`~.state.Rejected` into the host's
error answer, and records every call in the state's ``attempts``. What differs between hosts
(the JSON of an error, headers that go with a fault) comes in as two functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from veolab.simserver.config import Fault
from veolab.simserver.state import Rejected, SimState

#: the ASGI scope key under which the app keeps the server's own ``send`` (see :mod:`.app`)
RAW_SEND = "veolab.raw_send"

REASONS = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    406: "Not acceptable",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

#: a host's handler: the request and the fault in force (``fail`` is the handler's to play)
Handler = Callable[[Request, Fault | None], Awaitable[Response]]
#: a host's error answer: (status, message, headers, body kind "json" | "html" | "text")
ErrorAnswer = Callable[[int, str, dict[str, str] | None, str], Response]


def page(status: int, message: str, headers: dict[str, str] | None, body: str) -> Response:
    """An error that is not the host's JSON: an HTML page (``body="html"``) or plain text."""
    if body == "html":
        title = f"{status} {REASONS.get(status, 'Error')}"
        html = (
            f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{message}</p></body></html>"
        )
        return Response(html, status, headers=headers, media_type="text/html")
    return Response(message, status, headers=headers, media_type="text/plain")


class DropConnection(Response):
    """Close the TCP connection without answering (a lost response)."""

    def __init__(self, partial: Response | None = None) -> None:
        super().__init__(b"", 599)
        self.partial = partial  # send its headers and half its body first (truncated answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get(RAW_SEND)
        if self.partial is not None:
            body = bytes(self.partial.body)
            await send(
                {
                    "type": "http.response.start",
                    "status": self.partial.status_code,
                    "headers": self.partial.raw_headers,
                }
            )
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
        cycle = getattr(raw, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if cycle is None or transport is None:  # not under uvicorn's h11 protocol
            raise RuntimeError("veolab sim: cannot drop a connection outside uvicorn")
        cycle.disconnected = True  # uvicorn then neither answers 500 nor logs an error
        transport.close()


def _no_headers(fault: Fault) -> dict[str, str]:
    return {}


class FaultInjector:
    """Faults and the call record around one host's handlers.

    ``error`` makes the host's error answers; ``fault_headers`` adds the host's headers to an
    injected error status (Segmind's reset time on a 429).
    """

    def __init__(
        self,
        state: SimState,
        error: ErrorAnswer,
        fault_headers: Callable[[Fault], dict[str, str]] = _no_headers,
    ) -> None:
        self.state = state
        self.error = error
        self.fault_headers = fault_headers

    def route(self, path: str, name: str, handler: Handler, methods: list[str]) -> Route:
        """A Starlette route for ``handler`` whose faults are those of route ``name``."""

        async def endpoint(request: Request) -> Response:
            return await self.answer(request, name, handler)

        return Route(path, endpoint, methods=methods)

    async def answer(self, request: Request, name: str, handler: Handler) -> Response:
        fault = self.state.take_fault(name)
        made: Response | None = None  # the answer the server made, before a fault replaced it
        try:
            if fault and fault.when == "before" and fault.kind in ("status", "drop", "reply"):
                response = self.replace(fault, None)
            else:
                if fault and fault.kind == "stall" and fault.when == "before":
                    await asyncio.sleep(fault.seconds)
                response = made = await handler(request, fault)
                response = await self._after(fault, response)
        except Rejected as exc:
            response = self.error(exc.status, exc.message, exc.headers, "json")
        # a dropped or cut answer is logged with the status it would have had (0: none made)
        lost = isinstance(response, DropConnection)
        logged = (made.status_code if made is not None else 0) if lost else response.status_code
        self.state.record(
            name,
            request.url.path,
            logged,
            request_id=(made or response).headers.get("x-request-id"),
            fault=fault.kind if fault else None,
        )
        return response

    async def _after(self, fault: Fault | None, response: Response) -> Response:
        """What a fault does once the handler answered: stall, replace or cut the answer."""
        if fault is None or fault.kind == "fail":
            return response
        if fault.when != "after" and fault.kind != "truncate":
            return response
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            return response
        return self.replace(fault, response)

    def replace(self, fault: Fault, original: Response | None) -> Response:
        """The answer a fault gives instead of ``original`` (None: the handler did not run)."""
        if fault.kind == "drop":
            return DropConnection()
        if fault.kind == "truncate":
            return DropConnection(partial=original or self.error(500, "truncated", None, "json"))
        headers: dict[str, str] = {}
        if original is not None and "x-request-id" in original.headers:
            headers["x-request-id"] = original.headers["x-request-id"]
        if fault.kind == "reply":
            return Response(fault.content, 200, headers=headers, media_type=fault.content_type)
        headers |= self.fault_headers(fault)
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        message = fault.message or REASONS.get(fault.status, "Error")
        return self.error(fault.status, message, headers, fault.body)
