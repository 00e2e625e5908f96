"""Every plausible shape of a Segmind success, reduced to MP4 bytes or a URL to fetch.

Segmind's documents disagree on what a video model returns, so all of these are accepted:

- a ``video/*`` (or ``application/octet-stream``) body: the MP4 itself;
- JSON whose ``output`` (or ``video``, ``video_url``, ``url``, ``outputs``, ``result``,
  ``data``...) holds a URL to download, a ``data:`` URI, or plain base64, possibly in a list
  or a nested object.

Whatever arrives is verified as an MP4 (``ftyp`` box, sane size, cap) by the caller before
anyone treats it as a video.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

import httpx

from veolab.errors import InvalidOutputError

OUTPUT_KEYS = (
    "output",
    "outputs",
    "video",
    "videos",
    "video_url",
    "url",
    "file_url",
    "result",
    "data",
)
_B64 = re.compile(r"^[A-Za-z0-9+/=_-]+$")


def is_video_response(response: httpx.Response, head: bytes = b"") -> bool:
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("video/") or ctype in ("application/octet-stream", "binary/octet-stream"):
        return True
    return head[4:8] == b"ftyp"


def find_output(data: Any, depth: int = 0) -> tuple[Literal["url", "base64"], str] | None:
    """Where the video is in a JSON body: ("url", url) or ("base64", text), else None."""
    if depth > 4:
        return None
    if isinstance(data, str):
        text = data.strip()
        if text.lower().startswith(("http://", "https://")):
            return "url", text
        if text.lower().startswith("data:"):
            return "base64", text
        if len(text) >= 64 and _B64.match(text.replace("\n", "").replace("\r", "")):
            return "base64", text
        return None
    if isinstance(data, list):
        for item in data:
            found = find_output(item, depth + 1)
            if found:
                return found
        return None
    if isinstance(data, dict):
        for key in OUTPUT_KEYS:
            if key in data:
                found = find_output(data[key], depth + 1)
                if found:
                    return found
    return None


def decode_base64_video(text: str, what: str) -> bytes:
    """Bytes of a ``data:`` URI or plain (standard or URL-safe) base64 text."""
    if text.lower().startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head.lower():
            raise InvalidOutputError(f"{what} is a data: URI without base64 content")
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidOutputError(f"{what} holds invalid base64 where the video should be") from exc


def describe_json(data: Any) -> str:
    if isinstance(data, dict):
        return "JSON with keys " + ", ".join(sorted(map(str, data))[:12])
    return f"JSON {type(data).__name__}"
