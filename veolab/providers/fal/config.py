"""The ``fal`` provider's settings: the common and HTTP ones, fal's own options that change the
output (``auto_fix``, ``safety_tolerance``: logged with every run) and how a request is polled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from veolab.providers._http.config import HTTPConfig


class FalConfig(HTTPConfig):
    """How to reach fal.ai. Unknown fields are an error."""

    name: str = "fal"
    #: let fal rewrite a prompt its checks refuse (fal's own default is true on text-to-video);
    #: veolab sends false unless asked, so the prompt is the prompt: when on, the prompt fal used
    #: is logged (``veolab.prompt_used``) where it differs
    auto_fix: bool = False
    #: fal's content moderation, "1" (strictest) to "6"; None: fal's default ("4")
    safety_tolerance: Literal["1", "2", "3", "4", "5", "6"] | None = None
    poll_interval: float = Field(default=2.0, gt=0)  # first status poll (s), then x1.5
    poll_max_interval: float = Field(default=5.0, gt=0)
