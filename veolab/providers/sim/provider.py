"""The in-process simulator provider ``sim``: free, offline, deterministic."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from veolab.providers.base import Provider, ProviderConfig, ProviderResult, Timings
from veolab.providers.capabilities import SIM, ModelCaps
from veolab.request import VideoRequest

MODELS = tuple(SIM)


class SimConfig(ProviderConfig):
    """The simulator's settings: the common ones, a simulated latency and seeded defects."""

    name: str = "sim"
    latency: float = Field(default=0.0, ge=0)  # seconds of simulated generation time
    jitter: float = Field(default=0.0, ge=0, le=1)  # +/- fraction of latency, seeded per request
    defects: dict[str, Any] = Field(default_factory=dict)  # SimDefects fields

    @field_validator("defects")
    @classmethod
    def _known_defects(cls, v: dict[str, Any]) -> dict[str, Any]:
        # checked here, not at the first generation: a typo must fail before any work
        from veolab.providers.sim.engine import SimDefects  # lazy: PyAV

        return SimDefects(**v).model_dump(exclude_defaults=True)

    def delay_for(self, request_hash: str) -> float:
        if not self.latency:
            return 0.0
        u = int(request_hash[:8], 16) / 0xFFFFFFFF  # 0..1, stable per request
        return max(0.0, self.latency * (1 + self.jitter * (2 * u - 1)))


def pick_seed() -> int:
    """A seed for a request that has none, as the real API picks one and reports it."""
    return secrets.randbelow(2**32)


def simulate(request: VideoRequest, config: SimConfig | None = None) -> tuple[bytes, int]:
    """Render ``request`` (choosing a seed if it has none): (mp4 bytes, seed used)."""
    from veolab.providers.sim.engine import SimDefects, render_mp4  # lazy: PyAV, OpenCV

    config = config or SimConfig()
    seed = request.seed if request.seed is not None else pick_seed()
    return render_mp4(request, seed, SimDefects(**config.defects)), seed


class SimProvider(Provider):
    """Makes Veo-shaped MP4s locally; costs nothing, needs no key. Serves Segmind's Veo
    family with Segmind's rules (``capabilities.SIM``), so a grid is checked offline as it
    would be on Segmind."""

    name: ClassVar[str] = "sim"
    needs_key: ClassVar[bool] = False
    paid: ClassVar[bool] = False
    config_class: ClassVar[type[ProviderConfig]] = SimConfig
    capabilities: ClassVar[Mapping[str, ModelCaps]] = SIM
    config: SimConfig

    @classmethod
    def seconds_per_run(cls, config: ProviderConfig) -> float:
        latency = config.latency if isinstance(config, SimConfig) else 0.0
        return latency + 1.0  # the simulated latency, and about a second to render

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        t0 = time.perf_counter()
        delay = self.config.delay_for(request.request_hash())
        if delay:
            await asyncio.sleep(delay)
        t1 = time.perf_counter()
        video, seed = await asyncio.to_thread(simulate, request, self.config)
        t2 = time.perf_counter()
        rid = "sim-" + hashlib.sha256(f"{request.request_hash()}:{seed}:{t0}".encode()).hexdigest()
        rid = rid[:20]
        return ProviderResult(
            video=video,
            seed=seed,
            request_id=rid,
            cost=0.0,
            timings=Timings(queued=t1 - t0, generating=t2 - t1, downloading=0.0, total=t2 - t0),
            metadata={
                "provider": "sim",
                "model": self.config.model,
                "seed": seed,
                "bytes": len(video),
            },
        )
