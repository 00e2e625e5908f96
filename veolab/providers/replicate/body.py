"""The body of a Replicate prediction for a VideoRequest: ``{"input": {...}}``.

Replicate's Veo models take Segmind's names (those of :class:`~veolab.request.VideoRequest`),
so every API field that is set goes under its own name; an unset one (no negative prompt, no
seed) is left out and the host picks. Images: a URL passes through; a local file or a data:
URI goes inline as a data: URI (Replicate takes data URLs for file inputs).
"""

from __future__ import annotations

from typing import Any

from veolab.errors import RequestError
from veolab.images import ImageRef
from veolab.request import IMAGE_FIELDS, VideoRequest

#: the inputs of Replicate's Veo models (the names of VideoRequest's fields)
INPUTS = (
    "prompt",
    "negative_prompt",
    "aspect_ratio",
    "duration",
    "resolution",
    "generate_audio",
    "seed",
    "image",
    "last_frame",
    "reference_images",
)
#: request fields Replicate has no input for, sent as nothing: their only value is its default
#: (fps 24; the capability table refuses any other)
IMPLIED = ("fps",)


def _sent(ref: ImageRef) -> str:
    return ref.value if ref.kind == "url" else ref.as_data_uri()


def prediction_input(request: VideoRequest) -> dict[str, Any]:
    """``request`` as the ``input`` of a prediction."""
    values = request.api_values(_sent)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or (name in IMAGE_FIELDS and value == []) or name in IMPLIED:
            continue
        if name not in INPUTS:
            raise RequestError(f"{name} is not an input of Replicate's Veo models: leave it unset")
        out[name] = value
    return out


def prediction_body(request: VideoRequest) -> dict[str, Any]:
    """The JSON of ``POST /v1/models/{owner}/{name}/predictions``."""
    return {"input": prediction_input(request)}
