"""Segmind's protocol in front of the simulator: its routes, bodies, headers and errors.

Routes (``x-api-key`` required when the server has a key):

    POST /v1/{model}                  sync: the answer is the MP4 (or JSON, see sync_output)
    POST /v2/{model}                  queue: {"request_id", "status": "QUEUED", "poll_url",
                                      "status_url", "response_url"}
    GET  /v2/requests/{id}/status     {"status", "request_id", "metrics"}; FAILED comes as 422
    GET  /v2/requests/{id}            the result: {"status": "COMPLETED", "output": <url>, ...}
    GET  /files/{id}.mp4              the output file (no key, like a CDN link)
    POST /upload-asset                Segmind Storage: {"data_urls": [...]} -> {"file_urls"}

Errors are ``{"error": message}``; a 429 carries ``x-rate-limit-reset-at-utc``. Uploads are
served by the simulator's own ``/_sim/assets/{sha}`` route (:mod:`.admin`).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from typing import Any, Literal

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef
from veolab.providers.capabilities import SEGMIND, problems
from veolab.providers.segmind.body import BODY_NAMES
from veolab.request import API_FIELDS, VideoRequest, format_validation_error
from veolab.simserver.config import Fault
from veolab.simserver.faults import FaultInjector, page
from veolab.simserver.state import Job, Rejected, SimState, utc_iso

_ASSET = re.compile(r"/_sim/assets/([0-9a-f]{64})(\.\w+)?$")
_BAD_REQUEST_TYPES = {
    "missing",
    "string_type",
    "int_type",
    "int_parsing",
    "bool_type",
    "bool_parsing",
    "list_type",
    "extra_forbidden",
    "model_type",
}


def error(
    status: int, message: str, headers: dict[str, str] | None = None, body: str = "json"
) -> Response:
    """Segmind's error answer (``body="html"`` or ``"text"``: a page from a proxy in front)."""
    if body != "json":
        return page(status, message, headers, body)
    return JSONResponse({"error": message}, status, headers=headers)


def fault_headers(fault: Fault) -> dict[str, str]:
    if fault.status == 429:
        return {"x-rate-limit-reset-at-utc": utc_iso(time.time() + (fault.retry_after or 1))}
    return {}


def routes(state: SimState) -> list[BaseRoute]:
    """Segmind's routes over ``state``, each behind the state's faults."""
    host = Segmind(state)
    faults = FaultInjector(state, error, fault_headers)
    return [
        faults.route("/v1/{model}", "submit", host.submit, ["POST"]),
        faults.route("/v2/requests/{rid}/status", "status", host.status, ["GET"]),
        faults.route("/v2/requests/{rid}", "result", host.result, ["GET"]),
        faults.route("/v2/{model}", "submit", host.submit, ["POST"]),
        faults.route("/files/{rid}.mp4", "file", host.output_file, ["GET"]),
        faults.route("/upload-asset", "upload", host.upload_asset, ["POST"]),
    ]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _metrics(job: Job) -> dict[str, Any]:
    end = job.finished or time.time()
    begin = job.started or end
    out: dict[str, Any] = {
        "queue_time": round(begin - job.created, 3),
        "inference_time": round(end - begin, 3),
        "total_time": round(end - job.created, 3),
    }
    if job.status == "COMPLETED":
        out |= {"cost": job.cost, "remaining_credits": job.remaining_after, "seed": job.seed}
    return out


def _job_headers(job: Job) -> dict[str, str]:
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


class Segmind:
    """The handlers of Segmind's routes over one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.config = state.config

    # -- the routes -------------------------------------------------------------------------

    async def submit(self, request: Request, fault: Fault | None) -> Response:
        mode: Literal["sync", "queue"] = "sync" if request.url.path.startswith("/v1/") else "queue"
        model = request.path_params["model"]
        self._check_key(request)
        rate_headers = self._take_submit()
        if model not in self.config.models:
            raise Rejected(404, f"Model {model} not found")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "multipart/form-data"):
            return Response("Invalid content type", 406, media_type="text/plain")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Rejected(400, "Request body is not valid JSON") from None
        if isinstance(data, dict):  # the model's own names (veo-3: image_url) as VideoRequest's
            for field, name in BODY_NAMES.get(model, {}).items():
                if field in data:
                    raise Rejected(400, f"Unknown parameter(s): {field} ({model} takes {name})")
                if name in data:
                    data[field] = data.pop(name)
        received = self.parse_request(data)
        caps = SEGMIND.get(model)
        if self.config.veo_rules and caps is not None:
            wrong = problems(caps, received)  # what this model does not take (veo-3: no refs)
            if wrong:
                raise Rejected(422, "; ".join(wrong))
        job = self.state.create_job(
            model, mode, received, fail=bool(fault and fault.kind == "fail")
        )
        if mode == "queue":
            self.state.start(job)
            return self._queued(request, job, rate_headers)
        await self.state.run_job(job)
        return self._sync_answer(request, job, rate_headers)

    async def status(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find_job(request)
        body = {"status": job.status, "request_id": job.id, "metrics": _metrics(job)}
        if job.status == "FAILED":
            return JSONResponse(body | {"error": job.error}, 422, headers=_job_headers(job))
        return JSONResponse(body, headers=_job_headers(job))

    async def result(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find_job(request)
        body: dict[str, Any] = {
            "status": job.status,
            "request_id": job.id,
            "metrics": _metrics(job),
        }
        if job.status == "FAILED":
            return JSONResponse(body | {"error": job.error}, 422, headers=_job_headers(job))
        if job.status == "COMPLETED":
            body |= {"output": f"{_base(request)}/files/{job.id}.mp4", "seed": job.seed}
        return JSONResponse(body, headers=_job_headers(job))

    async def output_file(self, request: Request, fault: Fault | None) -> Response:
        job = self._find_job(request)
        if job.video is None:
            raise Rejected(404, f"Output of request {job.id} is not ready")
        return Response(job.video, media_type="video/mp4", headers={"x-request-id": job.id})

    async def upload_asset(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
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
            self.state.assets[ref.sha256] = (ref.mime or "image/png", ref.data)
            ext = (ref.mime or "image/png").split("/")[-1]
            out.append(f"{_base(request)}/_sim/assets/{ref.sha256}.{ext}")
        return JSONResponse({"file_urls": out, "message": "uploaded"})

    # -- answers ----------------------------------------------------------------------------

    def _queued(self, request: Request, job: Job, rate_headers: dict[str, str]) -> Response:
        root = _base(request)
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

    def _sync_answer(self, request: Request, job: Job, rate_headers: dict[str, str]) -> Response:
        if job.status == "FAILED":
            return error(500, job.error or "generation failed", {"x-request-id": job.id})
        headers = _job_headers(job) | rate_headers
        assert job.video is not None
        if self.config.sync_output == "url":
            return JSONResponse(
                {"output": f"{_base(request)}/files/{job.id}.mp4", "seed": job.seed},
                headers=headers,
            )
        if self.config.sync_output == "base64":
            return JSONResponse(
                {"output": base64.b64encode(job.video).decode(), "seed": job.seed}, headers=headers
            )
        return Response(job.video, headers=headers, media_type="video/mp4")

    # -- checks -----------------------------------------------------------------------------

    def _check_key(self, request: Request) -> None:
        if self.config.api_key is None:
            return
        given = request.headers.get("x-api-key")
        if not given:
            raise Rejected(401, "Missing Authorization or x-api-key in header")
        if not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
            raise Rejected(401, "Unauthorized. API key is invalid or may have expired")

    def _take_submit(self) -> dict[str, str]:
        """Count a submit against the rate limit: its headers, or a 429 with the reset time."""
        window = self.state.take_submit()
        if window is None:
            return {}
        if window.reset_at is None:
            return {
                "x-rate-limit-limit": str(window.limit),
                "x-rate-limit-remaining": str(window.remaining),
            }
        headers = {
            "x-rate-limit-reset-at-utc": utc_iso(window.reset_at),
            "x-rate-limit-limit": str(window.limit),
            "x-rate-limit-remaining": "0",
        }
        if self.config.retry_after_header:
            headers["retry-after"] = str(max(1, int(-(-window.wait // 1))))
        raise Rejected(
            429,
            f"Rate limit exceeded: {window.limit} submits per "
            f"{self.config.rate_window:g} s; retry after {utc_iso(window.reset_at)}",
            headers,
        )

    def _find_job(self, request: Request) -> Job:
        rid = request.path_params["rid"]
        job = self.state.jobs.get(rid)
        if job is None:
            raise Rejected(404, f"Request {rid} not found")
        return job

    # -- request bodies ---------------------------------------------------------------------

    def parse_request(self, data: Any) -> VideoRequest:
        """The parameters as received, as a VideoRequest (400 malformed, 422 not allowed)."""
        fields = self._fields(data)
        for name in ("image", "last_frame"):
            if name in fields:
                fields[name] = self._image(fields[name], name)
        if "reference_images" in fields:
            refs = fields["reference_images"]
            if not isinstance(refs, list):
                raise Rejected(400, "reference_images must be a list of image URIs")
            fields["reference_images"] = [self._image(r, "reference_images") for r in refs]
        try:
            return VideoRequest.model_validate(fields | {"veo_rules": self.config.veo_rules})
        except ImageReferenceError as exc:
            raise Rejected(422, str(exc)) from exc
        except ValidationError as exc:
            kinds = {e.get("type") for e in exc.errors()}
            status = 400 if kinds & _BAD_REQUEST_TYPES else 422
            raise Rejected(status, format_validation_error(exc)) from exc

    @staticmethod
    def _fields(data: Any) -> dict[str, Any]:
        """The body's parameters that are set (400 if it is no object, lacks a prompt or names
        a parameter Veo does not have)."""
        if not isinstance(data, dict):
            raise Rejected(400, "Request body must be a JSON object of parameters")
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise Rejected(400, "Prompt is Mandatory and must be string")
        unknown = sorted(set(data) - set(API_FIELDS))
        if unknown:
            raise Rejected(400, f"Unknown parameter(s): {', '.join(unknown)}")
        fields = {k: v for k, v in data.items() if v is not None}
        if fields.get("seed") == -1:  # Segmind's "pick one for me"
            del fields["seed"]
        return fields

    def _image(self, value: Any, name: str) -> ImageRef:
        if not isinstance(value, str) or not value.lower().startswith(
            ("http://", "https://", "data:")
        ):
            raise Rejected(422, f"{name} must be an http(s) URL or a data: URI")
        asset = _ASSET.search(value.split("?")[0])
        if asset and asset.group(1) in self.state.assets:  # our upload: the bytes' identity
            mime, data = self.state.assets[asset.group(1)]
            return ImageRef(kind="data", value=value, sha256=asset.group(1), mime=mime, _data=data)
        try:
            return ImageRef.parse(value)
        except ImageReferenceError as exc:
            raise Rejected(422, f"{name}: {exc}") from exc
