"""The ASGI app of ``veolab sim serve``: Segmind's protocol in front of the simulator.

Segmind's routes (``x-api-key`` required when the server has a key):

    POST /v1/{model}                  sync: the answer is the MP4 (or JSON, see sync_output)
    POST /v2/{model}                  queue: {"request_id", "status": "QUEUED", "poll_url",
                                      "status_url", "response_url"}
    GET  /v2/requests/{id}/status     {"status", "request_id", "metrics"}; FAILED comes as 422
    GET  /v2/requests/{id}            the result: {"status": "COMPLETED", "output": <url>, ...}
    GET  /files/{id}.mp4              the output file (no key, like a CDN link)
    POST /upload-asset                Segmind Storage: {"data_urls": [...]} -> {"file_urls"}

The simulator's own routes (no key): ``GET /_sim/ledger``, ``GET|POST|DELETE /_sim/faults``,
``POST /_sim/reset``, ``GET /_sim/health``, ``GET /_sim/assets/{sha}``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef
from veolab.providers.sim.server_config import Fault, SimServerConfig
from veolab.providers.sim.server_state import Job, Rejected, SimState, utc_iso

_REASONS = {
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
_FAULTS = TypeAdapter(list[Fault])
Handler = Callable[[Request, Fault | None], Awaitable[Response]]


def error(
    status: int, message: str, headers: dict[str, str] | None = None, body: str = "json"
) -> Response:
    if body == "html":
        title = f"{status} {_REASONS.get(status, 'Error')}"
        page = (
            f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{message}</p></body></html>"
        )
        return Response(page, status, headers=headers, media_type="text/html")
    if body == "text":
        return Response(message, status, headers=headers, media_type="text/plain")
    return JSONResponse({"error": message}, status, headers=headers)


class DropConnection(Response):
    """Close the TCP connection without answering (a lost response)."""

    def __init__(self, partial: Response | None = None) -> None:
        super().__init__(b"", 599)
        self.partial = partial  # send its headers and half its body first (truncated answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("veolab.raw_send")
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


class _RawSend:
    """Outermost ASGI layer: keep the server's own ``send`` so a fault can cut the socket."""

    def __init__(self, app: Starlette, state: SimState) -> None:
        self.app = app
        self.sim_state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["veolab.raw_send"] = send
        await self.app(scope, receive, send)


def create_app(config: SimServerConfig | None = None) -> _RawSend:
    """The ASGI app; ``app.sim_state`` is its :class:`SimState`."""
    config = config or SimServerConfig()
    state = SimState(config)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def check_key(request: Request) -> None:
        if config.api_key is None:
            return
        given = request.headers.get("x-api-key")
        if not given:
            raise Rejected(401, "Missing Authorization or x-api-key in header")
        if not hmac.compare_digest(given.encode(), config.api_key.encode()):
            raise Rejected(401, "Unauthorized. API key is invalid or may have expired")

    def job_headers(job: Job) -> dict[str, str]:
        headers = {"x-request-id": job.id}
        if job.status == "COMPLETED":
            headers |= {
                "x-cost": f"{job.cost:.4f}",
                "x-seed-value": str(job.seed),
                "x-generation-time": f"{(job.finished or 0) - (job.started or 0):.3f}",
            }
            if job.remaining_after is not None:
                headers["x-remaining-credits"] = f"{job.remaining_after:.4f}"
        return headers

    def find_job(request: Request) -> Job:
        rid = request.path_params["rid"]
        job = state.jobs.get(rid)
        if job is None:
            raise Rejected(404, f"Request {rid} not found")
        return job

    async def with_faults(request: Request, route: str, inner: Handler) -> Response:
        fault = state.take_fault(route)
        made: Response | None = None  # the answer the server made, before a fault replaced it
        try:
            if fault and fault.when == "before" and fault.kind in ("status", "drop", "reply"):
                response = fault_response(fault, None)
            else:
                if fault and fault.kind == "stall" and fault.when == "before":
                    await asyncio.sleep(fault.seconds)
                response = made = await inner(request, fault)
                if (
                    fault
                    and fault.kind != "fail"
                    and (fault.when == "after" or fault.kind == "truncate")
                ):
                    if fault.kind == "stall":
                        await asyncio.sleep(fault.seconds)
                    else:
                        response = fault_response(fault, response)
        except Rejected as exc:
            response = error(exc.status, exc.message, exc.headers)
        # a dropped or cut answer is logged with the status it would have had (0: none made)
        lost = isinstance(response, DropConnection)
        logged = (made.status_code if made is not None else 0) if lost else response.status_code
        state.record(
            route,
            request.url.path,
            logged,
            request_id=(made or response).headers.get("x-request-id"),
            fault=fault.kind if fault else None,
        )
        return response

    def fault_response(fault: Fault, original: Response | None) -> Response:
        if fault.kind == "drop":
            return DropConnection()
        if fault.kind == "truncate":
            return DropConnection(partial=original or error(500, "truncated"))
        headers: dict[str, str] = {}
        if original is not None and "x-request-id" in original.headers:
            headers["x-request-id"] = original.headers["x-request-id"]
        if fault.kind == "reply":
            return Response(fault.content, 200, headers=headers, media_type=fault.content_type)
        if fault.status == 429:
            headers["x-rate-limit-reset-at-utc"] = utc_iso(time.time() + (fault.retry_after or 1))
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        message = fault.message or _REASONS.get(fault.status, "Error")
        return error(fault.status, message, headers, fault.body)

    # -- Segmind's routes -------------------------------------------------------------------

    async def submit(request: Request, fault: Fault | None) -> Response:
        mode: Literal["sync", "queue"] = "sync" if request.url.path.startswith("/v1/") else "queue"
        model = request.path_params["model"]
        check_key(request)
        rate_headers = state.check_rate()
        if model not in config.models:
            raise Rejected(404, f"Model {model} not found")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "multipart/form-data"):
            return Response("Invalid content type", 406, media_type="text/plain")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Rejected(400, "Request body is not valid JSON") from None
        received = state.parse_request(data)
        fail = bool(fault and fault.kind == "fail")
        job = state.create_job(model, mode, received, fail=fail)
        if mode == "queue":
            state.start(job)
            root = base(request)
            return JSONResponse(
                {
                    "request_id": job.id,
                    "status": "QUEUED",
                    "poll_url": f"{root}/v2/requests/{job.id}",
                    "status_url": f"{root}/v2/requests/{job.id}/status",
                    "response_url": f"{root}/v2/requests/{job.id}",
                },
                headers={"x-request-id": job.id} | rate_headers,
            )
        await state.run_job(job)
        if job.status == "FAILED":
            return error(500, job.error or "generation failed", {"x-request-id": job.id})
        headers = job_headers(job) | rate_headers
        assert job.video is not None
        if config.sync_output == "url":
            return JSONResponse(
                {"output": f"{base(request)}/files/{job.id}.mp4", "seed": job.seed}, headers=headers
            )
        if config.sync_output == "base64":
            return JSONResponse(
                {"output": base64.b64encode(job.video).decode(), "seed": job.seed}, headers=headers
            )
        return Response(job.video, headers=headers, media_type="video/mp4")

    async def status(request: Request, fault: Fault | None) -> Response:
        check_key(request)
        job = find_job(request)
        body = {"status": job.status, "request_id": job.id, "metrics": job.metrics()}
        if job.status == "FAILED":
            return JSONResponse(body | {"error": job.error}, 422, headers=job_headers(job))
        return JSONResponse(body, headers=job_headers(job))

    async def result(request: Request, fault: Fault | None) -> Response:
        check_key(request)
        job = find_job(request)
        body: dict[str, Any] = {
            "status": job.status,
            "request_id": job.id,
            "metrics": job.metrics(),
        }
        if job.status == "FAILED":
            return JSONResponse(body | {"error": job.error}, 422, headers=job_headers(job))
        if job.status == "COMPLETED":
            body |= {"output": f"{base(request)}/files/{job.id}.mp4", "seed": job.seed}
        return JSONResponse(body, headers=job_headers(job))

    async def output_file(request: Request, fault: Fault | None) -> Response:
        job = find_job(request)
        if job.video is None:
            raise Rejected(404, f"Output of request {job.id} is not ready")
        return Response(job.video, media_type="video/mp4", headers={"x-request-id": job.id})

    async def upload_asset(request: Request, fault: Fault | None) -> Response:
        check_key(request)
        try:
            data = json.loads(await request.body())
            urls = data["data_urls"]
            assert isinstance(urls, list) and urls
        except (ValueError, KeyError, TypeError, AssertionError):
            raise Rejected(400, 'Body must be {"data_urls": ["data:...", ...]}') from None
        out = []
        for value in urls:
            try:
                ref = ImageRef.parse(value) if str(value).startswith("data:") else None
            except ImageReferenceError as exc:
                raise Rejected(422, str(exc)) from exc
            if ref is None or ref.data is None or ref.sha256 is None:
                raise Rejected(422, "data_urls must hold data: URIs of images")
            state.assets[ref.sha256] = (ref.mime or "image/png", ref.data)
            ext = (ref.mime or "image/png").split("/")[-1]
            out.append(f"{base(request)}/_sim/assets/{ref.sha256}.{ext}")
        return JSONResponse({"file_urls": out, "message": "uploaded"})

    def routed(route: str, inner: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await with_faults(request, route, inner)

        return endpoint

    # -- the simulator's own routes ---------------------------------------------------------

    async def ledger(request: Request) -> Response:
        return JSONResponse(state.ledger_json())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            try:
                data = json.loads(await request.body())
                if isinstance(data, dict):
                    data = data.get("faults", [data]) if "faults" in data else [data]
                state.faults.extend(_FAULTS.validate_python(data))
            except (ValueError, ValidationError) as exc:
                return error(400, f"bad fault: {' '.join(str(exc).split())[:300]}")
        return JSONResponse({"faults": [f.model_dump() for f in state.faults]})

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "models": list(config.models)})

    async def asset(request: Request) -> Response:
        sha = request.path_params["name"].split(".")[0]
        if sha not in state.assets:
            return error(404, "asset not found")
        mime, data = state.assets[sha]
        return Response(data, media_type=mime)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for task in list(state.tasks):
            task.cancel()
        for clip in state.clips.values():
            clip.cancel()

    app = Starlette(
        routes=[
            Route("/v1/{model}", routed("submit", submit), methods=["POST"]),
            Route("/v2/requests/{rid}/status", routed("status", status), methods=["GET"]),
            Route("/v2/requests/{rid}", routed("result", result), methods=["GET"]),
            Route("/v2/{model}", routed("submit", submit), methods=["POST"]),
            Route("/files/{rid}.mp4", routed("file", output_file), methods=["GET"]),
            Route("/upload-asset", routed("upload", upload_asset), methods=["POST"]),
            Route("/_sim/ledger", ledger, methods=["GET"]),
            Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/reset", reset, methods=["POST"]),
            Route("/_sim/health", health, methods=["GET"]),
            Route("/_sim/assets/{name}", asset, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return _RawSend(app, state)
