"""The app and the input of a fal.ai request for a VideoRequest.

The app follows the request: reference images go to ``/reference-to-video`` (``image_urls``),
a first and a last frame to ``/first-last-frame-to-video`` (``first_frame_url``,
``last_frame_url``), a first frame alone to ``/image-to-video`` (``image_url``), a prompt alone
to the model's own app. ``duration`` is sent as "8s"; ``auto_fix`` always (false unless the
config says so, so the prompt is the prompt), ``safety_tolerance`` when set. Images: a URL
passes through; a local file or a data: URI goes inline as a data: URI (fal takes data URIs
for file inputs).
"""

from __future__ import annotations

from typing import Any

from veolab.errors import RequestError
from veolab.images import ImageRef
from veolab.request import VideoRequest

REFERENCE, FIRST_LAST, IMAGE = "reference-to-video", "first-last-frame-to-video", "image-to-video"
#: the inputs every fal Veo app takes, beside its images
COMMON = ("prompt", "aspect_ratio", "duration", "resolution", "generate_audio", "auto_fix")
#: what the reference-to-video app does not take
NOT_IN_REFERENCE = ("negative_prompt", "seed")
#: request fields fal has no input for, sent as nothing: their only value is its default
IMPLIED = ("fps",)


def kind_of(request: VideoRequest) -> str:
    """Which app the request needs: "", "image-to-video", "first-last-frame-to-video" or
    "reference-to-video"."""
    if request.reference_images:
        return REFERENCE
    if request.last_frame is not None:
        return FIRST_LAST
    if request.image is not None:
        return IMAGE
    return ""


def app_for(host_model: str, request: VideoRequest) -> str:
    """The fal app of ``request`` on ``host_model`` (``fal-ai/veo3.1/image-to-video``)."""
    kind = kind_of(request)
    return f"{host_model}/{kind}" if kind else host_model


def _sent(ref: ImageRef) -> str:
    return ref.value if ref.kind == "url" else ref.as_data_uri()


def fal_input(
    request: VideoRequest, *, auto_fix: bool, safety_tolerance: str | None = None
) -> dict[str, Any]:
    """``request`` as the JSON body of a submit to its app."""
    values = request.api_values(_sent)
    kind = kind_of(request)
    out: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "duration": f"{request.duration}s",
        "resolution": request.resolution,
        "generate_audio": request.generate_audio,
        "auto_fix": auto_fix,
    }
    if safety_tolerance is not None:
        out["safety_tolerance"] = safety_tolerance
    for name in ("negative_prompt", "seed"):
        if values[name] is not None:
            if kind == REFERENCE:
                raise RequestError(
                    f"{name} is not taken by fal's reference-to-video app: leave it unset"
                )
            out[name] = values[name]
    if kind == REFERENCE:
        out["image_urls"] = values["reference_images"]
    elif kind == FIRST_LAST:
        out["first_frame_url"], out["last_frame_url"] = values["image"], values["last_frame"]
    elif kind == IMAGE:
        out["image_url"] = values["image"]
    known = {*COMMON, *NOT_IN_REFERENCE, *IMPLIED, "image", "last_frame", "reference_images"}
    extra = sorted(n for n, v in values.items() if n not in known and v not in (None, []))
    if extra:
        raise RequestError(f"{', '.join(extra)}: not an input of fal's Veo apps; leave it unset")
    return out
