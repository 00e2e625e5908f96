"""The JSON body of a Vertex AI ``predictLongRunning`` call, built from a VideoRequest.

    {"instances": [{"prompt", "image", "lastFrame", "referenceImages"}],
     "parameters": {"aspectRatio", "durationSeconds", "resolution", "generateAudio",
                    "sampleCount", "enhancePrompt", "negativePrompt", "seed",
                    "personGeneration", "storageUri"}}

Images go inline (``{"bytesBase64Encoded", "mimeType"}``); Vertex reads no http(s) URL (only
inline bytes or gs:// objects), so an image given by URL is refused before anything is sent.
Reference images are sent as ``referenceType: "asset"``. ``sampleCount`` is 1 and
``enhancePrompt`` false unless the config asks: otherwise the seed does not hold.
"""

from __future__ import annotations

import base64
from typing import Any

from veolab.errors import RequestError
from veolab.images import ImageRef
from veolab.providers.vertex.config import VertexConfig
from veolab.request import VideoRequest


def image_part(ref: ImageRef, field: str) -> dict[str, str]:
    """One image as Vertex takes it: its bytes in base64 and its MIME type."""
    if ref.kind == "url" or ref.data is None:
        raise RequestError(
            f"{field}: Vertex AI takes images as bytes, not URLs (got {ref.value}); download "
            "it and give the file path or a data: URI"
        )
    return {"bytesBase64Encoded": base64.b64encode(ref.data).decode(), "mimeType": ref.mime or ""}


def request_body(request: VideoRequest, config: VertexConfig) -> dict[str, Any]:
    """``request`` with ``config``'s output options as Vertex's ``instances`` and ``parameters``."""
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.image is not None:
        instance["image"] = image_part(request.image, "image")
    if request.last_frame is not None:
        instance["lastFrame"] = image_part(request.last_frame, "last_frame")
    if request.reference_images:
        instance["referenceImages"] = [
            {"image": image_part(ref, "reference_images"), "referenceType": "asset"}
            for ref in request.reference_images
        ]
    parameters: dict[str, Any] = {
        "aspectRatio": request.aspect_ratio,
        "durationSeconds": int(request.duration),
        "resolution": request.resolution,
        "generateAudio": request.generate_audio,
        "sampleCount": config.sample_count,
        "enhancePrompt": config.enhance_prompt,
    }
    fps = getattr(request, "fps", None)  # None: the host's default (24)
    optional = {
        "negativePrompt": request.negative_prompt,
        "seed": request.seed,
        "fps": fps,
        "personGeneration": config.person_generation,
        "storageUri": config.storage_uri,
    }
    parameters |= {k: v for k, v in optional.items() if v is not None}
    return {"instances": [instance], "parameters": parameters}
