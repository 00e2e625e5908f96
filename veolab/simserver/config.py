"""Settings of ``veolab sim serve`` and the faults it can be told to inject."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from veolab.errors import ConfigError
from veolab.providers.base import DEFAULT_PRICES, MODELS

Route = Literal["submit", "status", "result", "file", "upload", "any"]


class SimServerConfig(BaseModel):
    """How the local Segmind behaves. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: a free port
    api_key: str | None = Field(default=None, repr=False)  # None: no key needed
    credits: float | None = Field(default=None, ge=0)  # USD; None: unlimited
    insufficient_status: Literal[402, 406] = 406
    latency: float = Field(default=0.0, ge=0)  # seconds PROCESSING per job (render overlaps)
    jitter: float = Field(default=0.0, ge=0, le=1)  # +/- fraction of latency
    queue_time: float = Field(default=0.0, ge=0)  # seconds of QUEUED per v2 job
    rate_limit: int | None = Field(default=None, ge=1)  # submits per rate_window
    rate_window: float = Field(default=60.0, gt=0)
    retry_after_header: bool = False  # also send Retry-After on 429 (Segmind does not)
    fault_rate: float = Field(default=0.0, ge=0, le=1)  # random 500/502/504/drop per API call
    fault_seed: int = 0
    sync_output: Literal["bytes", "url", "base64"] = "bytes"  # shape of a /v1 success
    veo_rules: bool = True  # reject what Veo 3.1's documented rules forbid (422)
    prices: dict[str, dict[str, float]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    models: tuple[str, ...] = MODELS
    retention: float = Field(default=3600.0, gt=0)  # seconds a finished job stays readable
    render_cache: int = Field(default=32, ge=0)  # identical (request, seed) renders kept
    render_workers: int = Field(default=0, ge=0)  # 0: threads here; N: a pool of N processes
    # N > 0: answer from N clips per format (resolution, aspect ratio, duration, audio), each
    # rendered once on first use and picked by request hash; the content ignores the prompt
    prerendered: int = Field(default=0, ge=0)
    log_level: str = "warning"
    access_log: bool = False
    # TLS: serve https with this certificate and key (PEM files; see .tls for a self-signed one)
    tls_cert: str | None = None
    tls_key: str | None = None


class Fault(BaseModel):
    """One scripted fault, consumed by the next ``count`` matching API calls.

    ``kind``: ``status`` answers ``status`` with a JSON, HTML or text body; ``drop`` closes
    the connection without an answer; ``stall`` waits ``seconds`` then answers normally (a
    client read timeout); ``truncate`` sends headers and half the body, then closes; ``fail``
    (submits only) accepts the job and reports it FAILED (v1: a 500), unbilled; ``reply``
    answers 200 with ``content`` verbatim as ``content_type`` (an answer that cannot be read:
    JSON without a status, an HTML page, a body that is not an MP4).
    ``when="after"``: the job is created and billed before the fault (a lost answer).
    """

    model_config = ConfigDict(extra="forbid")

    route: Route = "submit"
    kind: Literal["status", "drop", "stall", "truncate", "fail", "reply"] = "status"
    status: int = Field(default=500, ge=400, le=599)
    body: Literal["json", "html", "text"] = "json"
    message: str | None = None
    when: Literal["before", "after"] = "before"
    seconds: float = Field(default=0.0, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    content: str = ""  # kind "reply": the body
    content_type: str = "application/json"  # kind "reply": its media type
    count: int = Field(default=1, ge=1)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]*)\s*$", re.I)
_UNIT = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> tuple[int, float]:
    """``"10/min"`` -> (10, 60.0); also ``5/s``, ``100/h``, ``3/10s`` (3 per 10 seconds)."""
    m = _RATE.match(text or "")
    unit = _UNIT.get(m.group(3).lower()) if m else None
    if not m or unit is None or int(m.group(1)) < 1 or not (m.group(2) or m.group(3)):
        raise ConfigError(f"bad rate {text!r}: use N/min, N/s, N/h or N/<seconds>s, e.g. 10/min")
    window = (float(m.group(2)) if m.group(2) else 1.0) * unit
    if window <= 0:
        raise ConfigError(f"bad rate {text!r}: the window must be positive")
    return int(m.group(1)), window
