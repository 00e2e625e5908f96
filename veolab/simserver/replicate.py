"""Replicate's protocol in front of the simulator: its routes, predictions and errors.

Routes (``Authorization: Bearer <key>`` required when the server has a key):

    POST /v1/models/{owner}/{name}/predictions   create: {"input": {...}}; ``Prefer: wait[=N]``
                                                 holds the answer until the prediction is done
                                                 (N s, at most 60); 201 with the prediction
    GET  /v1/predictions/{id}                    the prediction: status starting, processing,
                                                 succeeded (``output``: the video's URL), failed
                                                 (``error``) or canceled
    POST /v1/predictions/{id}/cancel             cancel a running prediction (not billed)
    GET  /replicate/delivery/{id}/output.mp4     the output file (no key, like a CDN link)

Errors are problem JSON, ``{"title", "detail", "status"}``; a 429 carries ``Retry-After``,
insufficient credit is a 402. A prompt holding :data:`FILTER_MARK` is accepted and then fails
as Replicate's safety check fails a prediction (``E005``, not billed). The routes share the
server's credits, jobs, faults (routes ``submit``, ``status``, ``file``) and ledger with the
other hosts (:mod:`.state`); a prediction is billed at Replicate's price for its model.
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
from veolab.providers.replicate.body import INPUTS
from veolab.providers.replicate.capabilities import REPLICATE
from veolab.request import VideoRequest, format_validation_error
from veolab.simserver.config import Fault
from veolab.simserver.faults import REASONS, FaultInjector, page
from veolab.simserver.state import Job, Rejected, SimState, utc_iso

#: a prompt holding this is accepted, then filtered out by the host's safety system (every
#: simulated host that filters uses the same mark)
FILTER_MARK = "[sim:filter]"
FILTERED_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)
MAX_WAIT = 60.0
_STATUS = {
    "QUEUED": "starting",
    "PROCESSING": "processing",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
}
_MODELS: dict[str, ModelCaps] = {row.host_model: row for row in REPLICATE.values()}


def error(
    status: int, message: str, headers: dict[str, str] | None = None, body: str = "json"
) -> Response:
    """Replicate's error answer: problem JSON (``body="html"`` or ``"text"``: a proxy's page)."""
    if body != "json":
        return page(status, message, headers, body)
    return JSONResponse(
        {"title": REASONS.get(status, "Error"), "detail": message, "status": status},
        status,
        headers=headers,
        media_type="application/problem+json",
    )


def fault_headers(fault: Fault) -> dict[str, str]:
    if fault.status == 429:
        return {"retry-after": f"{max(1, int(fault.retry_after or 1))}"}
    return {}


def routes(state: SimState) -> list[BaseRoute]:
    """Replicate's routes over ``state``, each behind the state's faults."""
    host = Replicate(state)
    faults = FaultInjector(state, error, fault_headers)
    return [
        faults.route("/v1/models/{owner}/{name}/predictions", "submit", host.create, ["POST"]),
        faults.route("/v1/predictions/{pid}", "status", host.read, ["GET"]),
        faults.route("/v1/predictions/{pid}/cancel", "status", host.cancel, ["POST"]),
        faults.route("/replicate/delivery/{pid}/output.mp4", "file", host.output_file, ["GET"]),
    ]


def wait_seconds(prefer: str | None) -> float:
    """Seconds a ``Prefer`` header asks the create call to wait (0: none)."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return min(MAX_WAIT, max(0.0, float(value))) if value.strip() else MAX_WAIT
            except ValueError:
                return MAX_WAIT
    return 0.0


class Replicate:
    """The handlers of Replicate's routes over one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.config = state.config
        self.inputs: dict[str, dict[str, Any]] = {}  # what each prediction was created with
        self.filtered: set[str] = set()
        self.canceled: set[str] = set()
        self.running: dict[str, asyncio.Task[None]] = {}

    # -- the routes -------------------------------------------------------------------------

    async def create(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        rate_headers = self._take_submit()
        host_model = f"{request.path_params['owner']}/{request.path_params['name']}"
        row = _MODELS.get(host_model)
        if row is None:
            raise Rejected(404, "The requested resource could not be found.")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Rejected(400, "The request body is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("input"), dict):
            raise Rejected(422, '- (root): input is required (a JSON object: {"input": {...}})')
        received = self.parse_input(data["input"], row)
        filtered = FILTER_MARK in received.prompt
        try:
            job = self.state.create_job(
                host_model,
                "queue",
                received,
                fail=filtered or bool(fault and fault.kind == "fail"),
                cost=price(row, received),
            )
        except Rejected as exc:
            if exc.status in (402, 406):
                raise Rejected(
                    402,
                    "You have insufficient credit to run this model. Go to "
                    "https://replicate.com/account/billing#billing to purchase credit. "
                    f"({exc.message})",
                ) from exc
            raise
        if filtered:
            self.filtered.add(job.id)
        self.inputs[job.id] = data["input"]
        self._start(job)
        wait = wait_seconds(request.headers.get("prefer"))
        deadline = time.monotonic() + wait
        while wait and job.status not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return JSONResponse(self.prediction(request, job), 201, headers=rate_headers)

    async def read(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        return JSONResponse(self.prediction(request, self._find(request)))

    async def cancel(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        job = self._find(request)
        task = self.running.get(job.id)
        if job.status not in ("COMPLETED", "FAILED") and task is not None:
            task.cancel()  # the job's hold is released: a canceled prediction is not billed
            self.canceled.add(job.id)
            job.status, job.error, job.finished = "FAILED", "canceled", time.time()
        return JSONResponse(self.prediction(request, job))

    def _start(self, job: Job) -> None:
        """Run ``job`` as :meth:`SimState.start` does, keeping its task (to cancel it)."""
        task = asyncio.get_running_loop().create_task(self.state.run_job(job))
        self.state.tasks.add(task)
        self.running[job.id] = task

        def done(t: asyncio.Task[None]) -> None:
            self.state.tasks.discard(t)
            self.running.pop(job.id, None)

        task.add_done_callback(done)

    async def output_file(self, request: Request, fault: Fault | None) -> Response:
        job = self._find(request)
        if job.video is None:
            raise Rejected(404, f"No output for prediction {job.id}")
        return Response(job.video, media_type="video/mp4", headers={"x-request-id": job.id})

    # -- the prediction ---------------------------------------------------------------------

    def prediction(self, request: Request, job: Job) -> dict[str, Any]:
        root = str(request.base_url).rstrip("/")
        status = "canceled" if job.id in self.canceled else _STATUS.get(job.status, "starting")
        error_text = None
        if status == "failed":
            error_text = FILTERED_ERROR if job.id in self.filtered else job.error
        done = status in ("succeeded", "failed", "canceled")
        out: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "version": "hidden",
            "input": self.inputs.get(job.id, {}),
            "logs": f"Using seed: {job.seed}\n" if job.started else "",
            "output": (
                f"{root}/replicate/delivery/{job.id}/output.mp4" if status == "succeeded" else None
            ),
            "data_removed": False,
            "error": error_text,
            "status": status,
            "source": "api",
            "created_at": utc_iso(job.created),
            "started_at": utc_iso(job.started) if job.started else None,
            "completed_at": utc_iso(job.finished) if done and job.finished else None,
            "urls": {
                "get": f"{root}/v1/predictions/{job.id}",
                "cancel": f"{root}/v1/predictions/{job.id}/cancel",
                "web": f"https://replicate.com/p/{job.id}",
            },
        }
        if done and job.finished and job.started:
            out["metrics"] = {
                "predict_time": round(job.finished - job.started, 3),
                "total_time": round(job.finished - job.created, 3),
            }
        return out

    # -- checks -----------------------------------------------------------------------------

    def _check_key(self, request: Request) -> None:
        if self.config.api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not given.strip():
            raise Rejected(401, "You did not pass an authentication token")
        if not hmac.compare_digest(given.strip().encode(), self.config.api_key.encode()):
            raise Rejected(401, "You did not pass a valid authentication token")

    def _take_submit(self) -> dict[str, str]:
        window = self.state.take_submit()
        if window is None or window.reset_at is None:
            return {}
        wait = max(1, int(-(-window.wait // 1)))
        raise Rejected(
            429,
            f"Request was throttled. Expected available in {wait} second"
            + ("s" if wait != 1 else ""),
            {"retry-after": str(wait)},
        )

    def _find(self, request: Request) -> Job:
        pid = request.path_params["pid"]
        job = self.state.jobs.get(pid)
        if job is None or not job.model.startswith("google/"):
            raise Rejected(404, "The requested resource could not be found.")
        return job

    # -- inputs -----------------------------------------------------------------------------

    def parse_input(self, data: dict[str, Any], row: ModelCaps) -> VideoRequest:
        """The input as received, as a VideoRequest (422 when it does not validate, as
        Replicate's schema check answers)."""
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise Rejected(422, "- input.prompt: prompt is required")
        unknown = sorted(set(data) - set(INPUTS))
        if unknown:
            raise Rejected(422, f"- input: unknown input(s) {', '.join(unknown)}")
        fields = {k: v for k, v in data.items() if v is not None}
        for name in ("image", "last_frame"):
            if name in fields:
                fields[name] = self._image(fields[name], name)
        if "reference_images" in fields:
            refs = fields["reference_images"]
            if not isinstance(refs, list):
                raise Rejected(422, "- input.reference_images: must be an array of URIs")
            fields["reference_images"] = [self._image(r, "reference_images") for r in refs]
        try:
            received = VideoRequest.model_validate(fields | {"veo_rules": self.config.veo_rules})
        except ValidationError as exc:
            raise Rejected(422, f"- input: {format_validation_error(exc)}") from exc
        refused = problems(row, received)
        if refused:
            raise Rejected(422, "- input: " + "; ".join(refused))
        return received

    @staticmethod
    def _image(value: Any, name: str) -> ImageRef:
        if not isinstance(value, str) or not value.lower().startswith(
            ("http://", "https://", "data:")
        ):
            raise Rejected(422, f"- input.{name}: must be an http(s) URL or a data: URI")
        try:
            return ImageRef.parse(value)
        except ImageReferenceError as exc:
            raise Rejected(422, f"- input.{name}: {exc}") from exc
