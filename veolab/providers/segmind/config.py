"""The ``segmind`` provider's settings: the common ones, plus queue or sync mode, image upload,
polling, retries, the submit rate and the download cap (see docs/hosts.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from veolab.providers.base import ProviderConfig


class SegmindConfig(ProviderConfig):
    """How to reach Segmind. Unknown fields are an error."""

    name: str = "segmind"
    mode: Literal["queue", "sync"] = "queue"
    inline_images: bool = True
    #: where ``inline_images: false`` uploads (default $SEGMIND_STORAGE_URL, else Segmind's
    #: storage, else the base URL when that is not Segmind's)
    storage_url: str | None = None
    poll_interval: float = Field(default=2.0, gt=0)  # first status poll (s), then x1.5
    poll_max_interval: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    # seconds: first retry delay (doubling), and the longest wait a retry may take; a 429
    # asking for longer than retry_max_wait fails at once with its retry_after
    retry_backoff: float = Field(default=1.0, ge=0)
    retry_max_wait: float = Field(default=60.0, ge=0)
    submits_per_minute: float | None = Field(default=None, gt=0)
    max_download_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
