"""The provider interface: turn a VideoRequest into an MP4.

A provider is a subclass of :class:`Provider` with capability attributes and one async method,
:meth:`Provider.generate`. Built-in providers register through the ``veolab.providers``
entry-point group, the same one a third-party package would use::

    [project.entry-points."veolab.providers"]
    myhost = "mypkg.provider:MyHostProvider"
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from veolab.request import VideoRequest

MODELS = ("veo-3.1", "veo-3.1-fast")

# USD per second of video, from ../shared/veo-api-notes.md (Segmind model pages, 2026).
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "veo-3.1": {"audio": 0.40, "no_audio": 0.20},
    "veo-3.1-fast": {"audio": 0.15, "no_audio": 0.10},
}


def price_of(prices: dict[str, dict[str, float]], model: str, request: VideoRequest) -> float:
    """USD for one generation from a per-second price table (with and without audio, per
    model; an unknown model is priced as veo-3.1). The one place a price is computed."""
    table = prices.get(model) or DEFAULT_PRICES["veo-3.1"]
    per_second = table["audio"] if request.generate_audio else table["no_audio"]
    return round(per_second * request.duration, 4)


class ProviderConfig(BaseModel):
    """How to reach a provider. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")

    name: str = "sim"
    model: Literal["veo-3.1", "veo-3.1-fast"] = "veo-3.1"
    base_url: str | None = None
    mode: Literal["queue", "sync"] = "queue"
    api_key: str | None = Field(default=None, repr=False, exclude=True)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=300.0, gt=0)
    poll_interval: float = Field(default=2.0, gt=0)
    poll_max_interval: float = Field(default=5.0, gt=0)
    job_timeout: float = Field(default=900.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    # seconds: first retry delay (doubling), and the longest wait a retry may take; a 429
    # asking for longer than retry_max_wait fails at once with its retry_after
    retry_backoff: float = Field(default=1.0, ge=0)
    retry_max_wait: float = Field(default=60.0, ge=0)
    max_in_flight: int = Field(default=4, ge=1)
    submits_per_minute: float | None = Field(default=None, gt=0)
    inline_images: bool = True
    max_download_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Timings:
    """Seconds spent in each phase of one generation."""

    queued: float = 0.0
    generating: float = 0.0
    downloading: float = 0.0
    total: float = 0.0


@dataclass
class ProviderResult:
    """What a generation returned: the video and everything known about how it was made."""

    video: bytes | None
    seed: int | None
    request_id: str | None = None
    cost: float | None = None  # billed by the host, USD, where it says
    remaining_credits: float | None = None
    timings: Timings = field(default_factory=Timings)
    metadata: dict[str, Any] = field(default_factory=dict)  # raw response facts, secrets removed
    path: Path | None = None

    def video_bytes(self) -> bytes:
        if self.video is not None:
            return self.video
        if self.path is not None:
            return self.path.read_bytes()
        raise ValueError("result holds no video")


class Provider(abc.ABC):
    """Base class of every provider."""

    name: ClassVar[str] = ""
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None
    models: ClassVar[tuple[str, ...]] = MODELS
    paid: ClassVar[bool] = False
    #: USD per second of video, per model, with and without audio
    prices: ClassVar[dict[str, dict[str, float]]] = DEFAULT_PRICES

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config or ProviderConfig(name=self.name)

    @abc.abstractmethod
    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video. Raises a ProviderError subclass on failure.

        ``on_submitted(request_id)`` is called as soon as the host has accepted the job and
        named it (before polling), so a caller can journal the id and resume after a crash.
        """

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Resume a job the host already accepted (queued APIs); default: not supported."""
        from veolab.errors import OutcomeUnknownError

        raise OutcomeUnknownError(
            f"provider {self.name!r} cannot resume job {request_id}", request_id=request_id
        )

    def check_ready(self) -> None:
        """Fail before any request (and any MLflow run) when the provider cannot work:
        by default, a provider that needs a key and has none raises MissingKeyError."""
        import os

        from veolab.errors import MissingKeyError

        if self.needs_key and not (self.config.api_key or os.environ.get(self.key_env_var or "")):
            raise MissingKeyError(
                f"No {self.name} API key: set {self.key_env_var} (provider {self.name!r})"
            )

    def estimate_cost(self, request: VideoRequest, model: str | None = None) -> float:
        """Price-table estimate in USD for one generation."""
        return price_of(self.prices, model or self.config.model, request)

    async def aclose(self) -> None:
        """Release connections; the default has none."""
