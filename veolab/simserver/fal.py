"""fal.ai's queue protocol in front of the simulator: its routes, statuses and errors.

Routes (``Authorization: Key <key>`` required when the server has a key):

    POST /fal-ai/{app}                         submit to an app (``veo3.1``, ``veo3.1/fast``,
                                               ``.../image-to-video``,
                                               ``.../first-last-frame-to-video``,
                                               ``veo3.1/reference-to-video``): {"request_id",
                                               "status_url", "response_url", "cancel_url"}
    GET  /fal-ai/{alias}/requests/{id}/status  IN_QUEUE (``queue_position``), IN_PROGRESS,
                                               COMPLETED (with ``error`` when it failed)
    GET  /fal-ai/{alias}/requests/{id}         the result: {"video": {"url", ...}, "seed",
                                               "prompt"}; a failed request's error
    PUT  /fal-ai/{alias}/requests/{id}/cancel  cancel a queued or running request (not billed)
    GET  /fal/files/{id}/output.mp4            the output file (no key, like fal's CDN)

Errors are ``{"detail": ...}`` (a text, or a list of ``{loc, msg, type}`` for a rejected
input); an exhausted balance is a 403. fal-client builds ``https://`` URLs from
``FAL_QUEUE_RUN_HOST``: run ``veolab sim serve --tls`` for it. A prompt holding
:data:`FILTER_MARK` fails with ``content_policy_violation`` (not billed), unless the submit
says ``auto_fix: true``: then the mark is dropped, the video is made from the rewritten prompt
and the result's ``prompt`` is that rewrite. Credits, jobs, faults (routes ``submit``,
``status``, ``result``, ``file``) and the ledger are shared with the other hosts; a request is
billed at fal's price for its model and resolution.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef
from veolab.providers.capabilities import ModelCaps, price, problems
from veolab.providers.fal.body import FIRST_LAST, IMAGE, NOT_IN_REFERENCE, REFERENCE
from veolab.providers.fal.capabilities import FAL
from veolab.request import VideoRequest
from veolab.simserver.config import Fault
from veolab.simserver.faults import FaultInjector, page
from veolab.simserver.replicate import FILTER_MARK
from veolab.simserver.state import Job, Rejected, SimState

POLICY_MSG = (
    "The content could not be processed because it contained material flagged by a content checker."
)
#: what each kind of app takes beside the common inputs: {input name: request field}
_IMAGES = {
    "": {},
    IMAGE: {"image_url": "image"},
    FIRST_LAST: {"first_frame_url": "image", "last_frame_url": "last_frame"},
    REFERENCE: {"image_urls": "reference_images"},
}
_COMMON = ("prompt", "aspect_ratio", "duration", "resolution", "generate_audio", "auto_fix")
_OPTIONAL = ("negative_prompt", "seed", "safety_tolerance")


def _apps() -> dict[str, tuple[ModelCaps, str]]:
    """Every app the simulator answers: ``veo3.1/fast/image-to-video`` -> (row, kind)."""
    out: dict[str, tuple[ModelCaps, str]] = {}
    for row in FAL.values():
        base = row.host_model.removeprefix("fal-ai/")
        for kind in _IMAGES:
            if kind == REFERENCE and not row.max_reference_images:
                continue
            out[f"{base}/{kind}" if kind else base] = (row, kind)
    return out


APPS = _apps()


def error(
    status: int, message: str, headers: dict[str, str] | None = None, body: str = "json"
) -> Response:
    """fal's error answer, ``{"detail": message}`` (``body="html"`` or ``"text"``: a proxy's
    page, as fal's ingress answers)."""
    if body != "json":
        return page(status, message, headers, body)
    return JSONResponse({"detail": message}, status, headers=headers)


def fault_headers(fault: Fault) -> dict[str, str]:
    if fault.status == 429:
        return {"retry-after": f"{max(1, int(fault.retry_after or 1))}"}
    return {}


def _invalid(problems_: list[tuple[list[str], str, str]]) -> Response:
    """A 422 with fal's list of ``{loc, msg, type}``."""
    detail = [
        {
            "loc": ["body", *loc],
            "msg": msg,
            "type": kind,
            "url": f"https://docs.fal.ai/errors#{kind}",
        }
        for loc, msg, kind in problems_
    ]
    return JSONResponse({"detail": detail}, 422)


def routes(state: SimState) -> list[BaseRoute]:
    """fal's routes over ``state``, each behind the state's faults."""
    host = Fal(state)
    faults = FaultInjector(state, error, fault_headers)
    return [
        faults.route("/fal-ai/{alias}/requests/{rid}/status", "status", host.status, ["GET"]),
        faults.route("/fal-ai/{alias}/requests/{rid}/cancel", "status", host.cancel, ["PUT"]),
        faults.route("/fal-ai/{alias}/requests/{rid}", "result", host.result, ["GET"]),
        faults.route("/fal-ai/{app:path}", "submit", host.submit, ["POST"]),
        faults.route("/fal/files/{rid}/output.mp4", "file", host.output_file, ["GET"]),
    ]


class Fal:
    """The handlers of fal's routes over one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.config = state.config
        self.filtered: set[str] = set()
        self.running: dict[str, asyncio.Task[None]] = {}

    # -- the routes -------------------------------------------------------------------------

    async def submit(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        rate_headers = self._take_submit()
        app = request.path_params["app"].strip("/")
        if app not in APPS:
            raise Rejected(404, f"Application 'fal-ai/{app}' not found")
        row, kind = APPS[app]
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Rejected(400, "The request body is not valid JSON") from None
        if not isinstance(data, dict):
            return _invalid([([], "Input should be a valid dictionary", "dict_type")])
        parsed = self.parse_input(data, row, kind)
        if isinstance(parsed, Response):
            return parsed
        received, auto_fix = parsed
        marked = FILTER_MARK in received.prompt
        try:
            job = self.state.create_job(
                f"fal-ai/{app}",
                "queue",
                received,
                fail=(marked and not auto_fix) or bool(fault and fault.kind == "fail"),
                cost=price(row, received),
            )
        except Rejected as exc:
            if exc.status in (402, 406):
                raise Rejected(
                    403,
                    "User is locked. Reason: Exhausted balance. Top up your balance at "
                    f"fal.ai/dashboard/billing. ({exc.message})",
                ) from exc
            raise
        if marked and auto_fix:  # fal rewrites the refused prompt and generates from it
            rewritten = " ".join(received.prompt.replace(FILTER_MARK, " ").split())
            job.request = job.request.model_copy(update={"prompt": rewritten or "a calm scene"})
        elif marked:
            self.filtered.add(job.id)
        self._start(job)
        urls = self._urls(request, job)
        return JSONResponse(
            {"status": "IN_QUEUE", "request_id": job.id, "queue_position": 0, **urls},
            headers={"x-fal-request-id": job.id} | rate_headers,
        )

    async def status(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find(request)
        body: dict[str, Any] = {"request_id": job.id, **self._urls(request, job)}
        headers = {"x-fal-request-id": job.id}
        if job.status == "QUEUED":
            return JSONResponse(body | {"status": "IN_QUEUE", "queue_position": 0}, 202, headers)
        if job.status == "PROCESSING":
            return JSONResponse(body | {"status": "IN_PROGRESS", "logs": None}, 202, headers)
        body |= {"status": "COMPLETED", "logs": None, "metrics": self._metrics(job)}
        if job.status == "FAILED":
            filtered = job.id in self.filtered
            body |= {
                "error": POLICY_MSG if filtered else job.error,
                "error_type": "content_policy_violation" if filtered else "runner_server_error",
            }
        return JSONResponse(body, 200, headers)

    async def result(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find(request)
        headers = {"x-fal-request-id": job.id}
        if job.status in ("QUEUED", "PROCESSING"):
            return JSONResponse({"detail": "Request is still in progress"}, 400, headers)
        if job.status == "FAILED":
            if job.id in self.filtered:
                kind = "content_policy_violation"
                detail = [
                    {
                        "loc": ["body", "prompt"],
                        "msg": POLICY_MSG,
                        "type": kind,
                        "url": f"https://docs.fal.ai/errors#{kind}",
                    }
                ]
                return JSONResponse({"detail": detail}, 422, headers)
            return JSONResponse(
                {"detail": job.error or "generation failed", "error_type": "runner_server_error"},
                500,
                headers | {"x-fal-error-type": "runner_server_error"},
            )
        root = str(request.base_url).rstrip("/")
        assert job.video is not None
        return JSONResponse(
            {
                "video": {
                    "url": f"{root}/fal/files/{job.id}/output.mp4",
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                    "file_size": len(job.video),
                },
                "seed": job.seed,
                "prompt": job.request.prompt,
            },
            headers=headers,
        )

    async def cancel(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find(request)
        task = self.running.get(job.id)
        if job.status in ("COMPLETED", "FAILED") or task is None:
            return JSONResponse({"status": "ALREADY_COMPLETED"}, 400)
        task.cancel()  # the job's hold is released: a cancelled request is not billed
        job.status, job.error, job.finished = "FAILED", "cancelled", time.time()
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202)

    async def output_file(self, request: Request, fault: Fault | None) -> Response:
        job = self._find(request)
        if job.video is None:
            raise Rejected(404, f"No output for request {job.id}")
        return Response(job.video, media_type="video/mp4", headers={"x-fal-request-id": job.id})

    # -- answers ----------------------------------------------------------------------------

    def _urls(self, request: Request, job: Job) -> dict[str, str]:
        root = str(request.base_url).rstrip("/")
        alias = job.model.removeprefix("fal-ai/").split("/")[0]
        base = f"{root}/fal-ai/{alias}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    @staticmethod
    def _metrics(job: Job) -> dict[str, float]:
        if job.started and job.finished:
            return {"inference_time": round(job.finished - job.started, 3)}
        return {}

    def _start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self.state.run_job(job))
        self.state.tasks.add(task)
        self.running[job.id] = task

        def done(t: asyncio.Task[None]) -> None:
            self.state.tasks.discard(t)
            self.running.pop(job.id, None)

        task.add_done_callback(done)

    # -- checks -----------------------------------------------------------------------------

    def _check_key(self, request: Request) -> None:
        if self.config.api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "key" or not given.strip():
            raise Rejected(401, "Missing authorization header: use 'Authorization: Key <key>'")
        if not hmac.compare_digest(given.strip().encode(), self.config.api_key.encode()):
            raise Rejected(401, "No user found for Key ID and Secret")

    def _take_submit(self) -> dict[str, str]:
        window = self.state.take_submit()
        if window is None or window.reset_at is None:
            return {}
        wait = max(1, int(-(-window.wait // 1)))
        raise Rejected(429, "Rate limit exceeded: too many requests", {"retry-after": str(wait)})

    def _find(self, request: Request) -> Job:
        rid = request.path_params["rid"]
        job = self.state.jobs.get(rid)
        if job is None or not job.model.startswith("fal-ai/"):
            raise Rejected(404, f"Request {rid} not found")
        return job

    # -- inputs -----------------------------------------------------------------------------

    def parse_input(
        self, data: dict[str, Any], row: ModelCaps, kind: str
    ) -> tuple[VideoRequest, bool] | Response:
        """The input as received, as a VideoRequest and its auto_fix, or the 422 fal answers."""
        images = _IMAGES[kind]
        allowed = set(_COMMON) | set(_OPTIONAL) | set(images)
        if kind == REFERENCE:
            allowed -= set(NOT_IN_REFERENCE)
        bad: list[tuple[list[str], str, str]] = [
            ([name], "Extra inputs are not permitted", "extra_forbidden")
            for name in sorted(set(data) - allowed)
        ]
        bad += [
            ([name], "Field required", "missing")
            for name in ["prompt", *images]
            if data.get(name) in (None, "", [])
        ]
        tolerance = data.get("safety_tolerance")
        if tolerance is not None and tolerance not in ("1", "2", "3", "4", "5", "6"):
            bad.append((["safety_tolerance"], "Input should be '1' to '6'", "enum"))
        auto_fix = data.get("auto_fix", False)
        if not isinstance(auto_fix, bool):
            bad.append((["auto_fix"], "Input should be a valid boolean", "bool_type"))
        duration = data.get("duration", "8s")
        if duration not in ("4s", "6s", "8s"):
            bad.append((["duration"], "Input should be '4s', '6s' or '8s'", "enum"))
        if bad:
            return _invalid(bad)
        fields: dict[str, Any] = {
            k: v
            for k, v in data.items()
            if k in ("prompt", "aspect_ratio", "resolution", "generate_audio", "negative_prompt")
            and v is not None
        }
        fields["duration"] = int(str(duration).removesuffix("s"))
        if data.get("seed") is not None:
            fields["seed"] = data["seed"]
        try:
            for name, field in images.items():
                value = data[name]
                if field == "reference_images":
                    if not isinstance(value, list):
                        return _invalid([([name], "Input should be a valid list", "list_type")])
                    fields[field] = [self._image(v) for v in value]
                else:
                    fields[field] = self._image(value)
        except ImageReferenceError as exc:
            return _invalid([([name], str(exc), "image_load_error")])
        try:
            received = VideoRequest.model_validate(fields | {"veo_rules": self.config.veo_rules})
        except ValidationError as exc:
            return _invalid(
                [
                    (
                        [str(p) for p in e.get("loc", ())],
                        str(e.get("msg", "invalid")).removeprefix("Value error, "),
                        str(e.get("type", "value_error")),
                    )
                    for e in exc.errors()
                ]
            )
        refused = problems(row, received)
        if refused:
            return _invalid([([], msg, "value_error") for msg in refused])
        return received, bool(auto_fix)

    @staticmethod
    def _image(value: Any) -> ImageRef:
        if not isinstance(value, str) or not value.lower().startswith(
            ("http://", "https://", "data:")
        ):
            raise ImageReferenceError("must be an http(s) URL or a data: URI")
        return ImageRef.parse(value)
