"""The JSON body of a Segmind Veo 3.1 call, built from a VideoRequest.

Only API fields are sent, under VideoRequest's names except where a model's page names one
otherwise (:data:`BODY_NAMES`: veo-3 and veo-3-fast take the first frame as ``image_url``).
Image inputs: URLs pass through; local files (and data: URIs) go inline as base64 data URIs
when ``inline_images`` is on (the default), or are uploaded to Segmind Storage first and sent
as the URLs it returns (Segmind has not confirmed that this model accepts base64 images; see
docs/hosts.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from veolab.errors import InvalidOutputError
from veolab.images import ImageRef
from veolab.request import IMAGE_FIELDS, VideoRequest

Uploader = Callable[[list[str]], Awaitable[list[str]]]

#: per model, the body's name of a VideoRequest field where Segmind's page names it otherwise
#: (segmind.com/models/veo-3-fast/api lists the first frame as ``image_url``)
BODY_NAMES: dict[str, dict[str, str]] = {
    "veo-3": {"image": "image_url"},
    "veo-3-fast": {"image": "image_url"},
}


async def request_body(
    request: VideoRequest,
    *,
    inline_images: bool,
    upload: Uploader,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``request`` as Segmind's parameters; ``upload(data_urls) -> file_urls`` when not inline.

    Every API field of the request is sent under its own name (Segmind's names are
    VideoRequest's, or ``names[field]``: the model's, :data:`BODY_NAMES`), except an unset one
    (no negative prompt, no seed: the host picks).
    """
    values = request.api_values()
    body: dict[str, Any] = {
        name: value
        for name, value in values.items()
        if name not in IMAGE_FIELDS and value is not None
    }
    refs = [ref for _, _, ref in request.images()]
    local = [r for r in refs if r.kind != "url"]
    uploaded: dict[str | None, str] = {}
    if local and not inline_images:
        urls = await upload([r.as_data_uri() for r in local])
        uploaded = dict(zip([r.sha256 for r in local], urls, strict=True))

    def sent(ref: ImageRef) -> str:
        if ref.kind == "url":
            return ref.value
        return uploaded.get(ref.sha256) or ref.as_data_uri()

    for name in IMAGE_FIELDS:
        value = values[name]
        if isinstance(value, list):
            if value:
                body[name] = [sent(ref) for ref in value]
        elif value is not None:
            body[name] = sent(value)
    renamed = names or {}
    return {renamed.get(k, k): v for k, v in body.items()}


def file_urls(answer: Any, expected: int) -> list[str]:
    """The ``file_urls`` of a Segmind Storage upload answer, checked."""
    urls = answer.get("file_urls") if isinstance(answer, dict) else None
    if (
        not isinstance(urls, list)
        or len(urls) != expected
        or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls)
    ):
        raise InvalidOutputError(
            "Segmind image upload returned no usable file_urls; use --inline-images "
            "(inline_images) to send images inline instead"
        )
    return urls
