"""What the local Segmind remembers: jobs, credits, the ledger, the rate window, the faults.

All of it lives on the server's event loop; renders run in worker threads. Billing follows
Segmind: a job is priced per second (audio or not, per model) when it is accepted, the price
is held against the balance, and it is charged, and written to the ledger, only when the job
succeeds. A failed job costs nothing.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef
from veolab.providers.base import price_of
from veolab.providers.sim.provider import pick_seed
from veolab.providers.sim.server_config import Fault, SimServerConfig
from veolab.providers.sim.server_render import prerendered_request, render
from veolab.request import API_FIELDS, VideoRequest, format_validation_error

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
_RANDOM_FAULTS = (500, 502, 504, "drop")


class Rejected(Exception):
    """A request the server answers with an error status and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def utc_iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass
class Job:
    id: str
    model: str
    mode: Literal["sync", "queue"]
    request: VideoRequest  # with the seed used
    request_hash: str  # of the parameters as received
    seed: int
    cost: float
    created: float = field(default_factory=time.time)
    status: str = "QUEUED"
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    video: bytes | None = None
    fail: bool = False
    remaining_after: float | None = None

    def metrics(self) -> dict[str, Any]:
        end = self.finished or time.time()
        begin = self.started or end
        out: dict[str, Any] = {
            "queue_time": round(begin - self.created, 3),
            "inference_time": round(end - begin, 3),
            "total_time": round(end - self.created, 3),
        }
        if self.status == "COMPLETED":
            out |= {"cost": self.cost, "remaining_credits": self.remaining_after, "seed": self.seed}
        return out


class SimState:
    def __init__(self, config: SimServerConfig) -> None:
        self.config = config
        # pre-rendered clips by (resolution, aspect ratio, duration, audio, slot); a reset
        # keeps them: they are the server's, not the client's
        self.clips: dict[tuple[str, str, int, bool, int], asyncio.Future[bytes]] = {}
        self._clear()

    def _clear(self) -> None:
        config = self.config
        self.jobs: dict[str, Job] = {}
        self.ledger: list[dict[str, Any]] = []
        self.attempts: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.faults: list[Fault] = []
        self.credits = config.credits
        self.reserved = 0.0
        self._rng = random.Random(config.fault_seed)
        self._submits: deque[float] = deque()
        self.assets: dict[str, tuple[str, bytes]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self._clear()

    # -- bookkeeping ------------------------------------------------------------------------

    def record(
        self,
        route: str,
        path: str,
        status: int,
        *,
        request_id: str | None = None,
        fault: str | None = None,
    ) -> None:
        self.attempts.append(
            {
                "route": route,
                "path": path,
                "status": status,
                "request_id": request_id,
                "fault": fault,
                "time": time.time(),
            }
        )

    def take_fault(self, route: str) -> Fault | None:
        """The next scripted fault for ``route``, else a random one at ``fault_rate``."""
        for fault in self.faults:
            if fault.route in (route, "any"):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        if (
            route != "upload"
            and self.config.fault_rate
            and self._rng.random() < self.config.fault_rate
        ):
            pick = self._rng.choice(_RANDOM_FAULTS)
            if pick == "drop":
                return Fault(route=route, kind="drop")  # type: ignore[arg-type]
            return Fault(route=route, kind="status", status=int(pick))  # type: ignore[arg-type]
        return None

    def check_rate(self) -> dict[str, str]:
        """Count one submit against the window, or raise a 429 with the reset time."""
        limit = self.config.rate_limit
        if not limit:
            return {}
        now = time.time()
        window = self.config.rate_window
        while self._submits and now - self._submits[0] >= window:
            self._submits.popleft()
        if len(self._submits) >= limit:
            reset = self._submits[0] + window
            headers = {
                "x-rate-limit-reset-at-utc": utc_iso(reset),
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": "0",
            }
            if self.config.retry_after_header:
                headers["retry-after"] = str(max(1, int(-(-(reset - now) // 1))))
            raise Rejected(
                429,
                f"Rate limit exceeded: {limit} submits per "
                f"{window:g} s; retry after {utc_iso(reset)}",
                headers,
            )
        self._submits.append(now)
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(limit - len(self._submits)),
        }

    # -- requests ---------------------------------------------------------------------------

    def parse_request(self, data: Any) -> VideoRequest:
        """The parameters as received, as a VideoRequest (400 malformed, 422 not allowed)."""
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

    def _image(self, value: Any, name: str) -> ImageRef:
        if not isinstance(value, str) or not value.lower().startswith(
            ("http://", "https://", "data:")
        ):
            raise Rejected(422, f"{name} must be an http(s) URL or a data: URI")
        asset = _ASSET.search(value.split("?")[0])
        if asset and asset.group(1) in self.assets:  # our own upload: same identity as the bytes
            mime, data = self.assets[asset.group(1)]
            return ImageRef(kind="data", value=value, sha256=asset.group(1), mime=mime, _data=data)
        try:
            return ImageRef.parse(value)
        except ImageReferenceError as exc:
            raise Rejected(422, f"{name}: {exc}") from exc

    def price(self, model: str, request: VideoRequest) -> float:
        return price_of(self.config.prices, model, request)

    # -- jobs -------------------------------------------------------------------------------

    def create_job(
        self, model: str, mode: Literal["sync", "queue"], received: VideoRequest, fail: bool = False
    ) -> Job:
        """Accept a job: pick its seed, price it, hold the price (406 if it does not fit)."""
        self._evict()
        cost = self.price(model, received)
        if self.credits is not None and self.credits - self.reserved < cost - 1e-9:
            raise Rejected(
                self.config.insufficient_status,
                f"Insufficient credits: balance ${self.credits - self.reserved:.2f}, this "
                f"request needs ${cost:.2f}",
            )
        seed = received.seed if received.seed is not None else pick_seed()
        job = Job(
            id=str(uuid.uuid4()),
            model=model,
            mode=mode,
            request=received.with_seed(seed),
            request_hash=received.request_hash(),
            seed=seed,
            cost=cost,
            fail=fail,
        )
        self.reserved += cost
        self.jobs[job.id] = job
        return job

    def delay_for(self, job: Job) -> float:
        jitter = self.config.jitter
        u = random.Random(job.id).random()
        return max(0.0, self.config.latency * (1 + jitter * (2 * u - 1)))

    async def run_job(self, job: Job) -> None:
        """QUEUED for queue_time, PROCESSING for max(latency, render), then billed (or FAILED)."""
        rendering: asyncio.Future | None = None
        try:
            if self.config.queue_time:
                await asyncio.sleep(self.config.queue_time)
            job.status, job.started = "PROCESSING", time.time()
            # the latency is the whole generation time: render during it, not after it
            if not job.fail:
                rendering = asyncio.ensure_future(self.clip_for(job))
            await asyncio.sleep(self.delay_for(job))
            if job.fail:
                raise RuntimeError("the model could not generate this video (simulated failure)")
            assert rendering is not None
            job.video = await rendering
        except asyncio.CancelledError:
            if rendering is not None:
                rendering.cancel()
            self._release(job)
            raise
        except Exception as exc:  # a failed job is never billed
            self._release(job)
            job.status, job.error, job.finished = "FAILED", str(exc)[:300], time.time()
            return
        if not self._release(job):
            return  # the server was reset meanwhile: this job belongs to no ledger
        if self.credits is not None:
            self.credits = round(self.credits - job.cost, 6)
        job.remaining_after = self.credits
        job.status, job.finished = "COMPLETED", time.time()
        self.ledger.append(
            {
                "request_id": job.id,
                "request_hash": job.request_hash,
                "seed": job.seed,
                "cost": job.cost,
                "model": job.model,
                "mode": job.mode,
                "time": job.finished,
                "time_utc": utc_iso(job.finished),
                "duration": job.request.duration,
                "resolution": job.request.resolution,
                "aspect_ratio": job.request.aspect_ratio,
                "generate_audio": job.request.generate_audio,
                "prompt": job.request.prompt[:200],
            }
        )

    async def clip_for(self, job: Job) -> bytes:
        """The video of ``job``: its own render, or with ``prerendered`` a shared clip of its
        format chosen by its request hash (the same request always gets the same clip)."""
        n = self.config.prerendered
        if not n:
            return await render(job.request, self.config.render_cache, self.config.render_workers)
        r = job.request
        slot = int(job.request_hash[:15], 16) % n
        key = (r.resolution, r.aspect_ratio, r.duration, r.generate_audio, slot)
        clip = self.clips.get(key)
        if clip is None or (clip.done() and (clip.cancelled() or clip.exception() is not None)):
            clip = asyncio.ensure_future(
                render(prerendered_request(*key), 0, self.config.render_workers)
            )
            self.clips[key] = clip
        # shielded: a job cancelled meanwhile must not cancel the render others wait for
        return await asyncio.shield(clip)

    def _release(self, job: Job) -> bool:
        """Stop holding ``job``'s price; False if the job is no longer this state's."""
        if self.jobs.get(job.id) is not job:
            return False
        self.reserved = max(0.0, self.reserved - job.cost)
        return True

    def start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self.run_job(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _evict(self) -> None:
        horizon = time.time() - self.config.retention
        for rid in [r for r, j in self.jobs.items() if j.finished and j.finished < horizon]:
            del self.jobs[rid]

    def ledger_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for a in self.attempts:
            counts[a["route"]] = counts.get(a["route"], 0) + 1
        return {
            "jobs": list(self.ledger),
            "total_cost": round(sum(j["cost"] for j in self.ledger), 6),
            "credits_remaining": self.credits,
            "held": round(self.reserved, 6),
            "attempts": list(self.attempts),
            "counts": counts,
        }
