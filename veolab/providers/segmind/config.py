"""The ``segmind`` provider's settings: the common and HTTP ones, plus queue or sync mode,
how images are sent and how jobs are polled (see docs/hosts.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from veolab.providers._http.config import HTTPConfig


class SegmindConfig(HTTPConfig):
    """How to reach Segmind. Unknown fields are an error."""

    name: str = "segmind"
    mode: Literal["queue", "sync"] = "queue"
    inline_images: bool = True
    #: where ``inline_images: false`` uploads (default $SEGMIND_STORAGE_URL, else Segmind's
    #: storage, else the base URL when that is not Segmind's)
    storage_url: str | None = None
    poll_interval: float = Field(default=2.0, gt=0)  # first status poll (s), then x1.5
    poll_max_interval: float = Field(default=5.0, gt=0)
