"""What a simulated host remembers: jobs, credits, the ledger, the rate window, the faults.

Nothing here knows a host's protocol: the protocol modules (:mod:`.segmind`) turn requests into
:class:`~veolab.request.VideoRequest` s and jobs into answers, and render :class:`Rejected` as
their host's errors.

All of it lives on the server's event loop; renders run in worker threads or processes (the
state's :class:`~.render.Renderer`, started and closed with the app). Billing follows Segmind:
a job is priced per second (audio or not, per model) when it is accepted, the price is held
against the balance, and it is charged, and written to the ledger, only when the job succeeds.
A failed job costs nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from veolab.providers.base import price_of
from veolab.providers.sim.provider import pick_seed
from veolab.request import VideoRequest
from veolab.simserver.config import Fault, SimServerConfig
from veolab.simserver.render import Renderer

_RANDOM_FAULTS = (500, 502, 504, "drop")


class Rejected(Exception):
    """A request the server answers with an error status and ``message``, in its host's shape."""

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

    def ledger_entry(self) -> dict[str, Any]:
        assert self.finished is not None
        return {
            "request_id": self.id,
            "request_hash": self.request_hash,
            "seed": self.seed,
            "cost": self.cost,
            "model": self.model,
            "mode": self.mode,
            "time": self.finished,
            "time_utc": utc_iso(self.finished),
            "duration": self.request.duration,
            "resolution": self.request.resolution,
            "aspect_ratio": self.request.aspect_ratio,
            "generate_audio": self.request.generate_audio,
            "prompt": self.request.prompt[:200],
        }


@dataclass(frozen=True)
class RateWindow:
    """The submit window after a submit: admitted (``reset_at`` None) or refused."""

    limit: int
    remaining: int
    reset_at: float | None = None  # refused: when the oldest submit leaves the window
    wait: float = 0.0  # refused: seconds until then


class SimState:
    """One server's memory. :meth:`open` and :meth:`close` are the app's startup and shutdown."""

    def __init__(self, config: SimServerConfig) -> None:
        self.config = config
        self.renderer = Renderer.from_config(config)
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
        self.assets: dict[str, tuple[str, bytes]] = {}  # uploads by sha256: (mime, bytes)
        self.tasks: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        self.renderer.start()

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.renderer.close()

    def reset(self) -> None:
        """Forget jobs, ledger, faults, uploads and the rate window (pre-rendered clips stay)."""
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

    def take_submit(self) -> RateWindow | None:
        """Count one submit against the rate window (None: no limit). A refused submit is not
        counted."""
        limit = self.config.rate_limit
        if not limit:
            return None
        now = time.time()
        window = self.config.rate_window
        while self._submits and now - self._submits[0] >= window:
            self._submits.popleft()
        if len(self._submits) >= limit:
            reset = self._submits[0] + window
            return RateWindow(limit, 0, reset_at=reset, wait=reset - now)
        self._submits.append(now)
        return RateWindow(limit, limit - len(self._submits))

    def price(self, model: str, request: VideoRequest) -> float:
        return price_of(self.config.prices, model, request)

    # -- jobs -------------------------------------------------------------------------------

    def create_job(
        self,
        model: str,
        mode: Literal["sync", "queue"],
        received: VideoRequest,
        fail: bool = False,
        *,
        cost: float | None = None,
    ) -> Job:
        """Accept a job: pick its seed, price it, hold the price (406 if it does not fit).
        ``cost``: a host's own price for it (default: the server's price table)."""
        self._evict()
        cost = self.price(model, received) if cost is None else cost
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
        rendering: asyncio.Future[bytes] | None = None
        try:
            if self.config.queue_time:
                await asyncio.sleep(self.config.queue_time)
            job.status, job.started = "PROCESSING", time.time()
            # the latency is the whole generation time: render during it, not after it
            if not job.fail:
                rendering = asyncio.ensure_future(
                    self.renderer.video_for(job.request, job.request_hash)
                )
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
        if self._release(job):  # else the server was reset meanwhile: no ledger holds this job
            self._bill(job)

    def _bill(self, job: Job) -> None:
        if self.credits is not None:
            self.credits = round(self.credits - job.cost, 6)
        job.remaining_after = self.credits
        job.status, job.finished = "COMPLETED", time.time()
        self.ledger.append(job.ledger_entry())

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
