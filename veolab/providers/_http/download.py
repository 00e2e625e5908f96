"""Reading a streamed answer whole, under a size cap, and keeping it for error messages."""

from __future__ import annotations

import json
from typing import Any

import httpx

from veolab.errors import InvalidOutputError

ERROR_BODY_CAP = 1 << 20  # cap for the body of an error answer


async def read_capped(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    """The body of a streamed response, refusing more than ``max_bytes``.

    A body shorter than its ``Content-Length`` raises ``httpx.RemoteProtocolError``.
    """
    declared = response.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else None
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    if expected is not None and not encoded and expected > max_bytes:
        raise InvalidOutputError(f"{what} is {expected} bytes: over the {max_bytes} byte cap")
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) > max_bytes:
            raise InvalidOutputError(f"{what} is larger than the {max_bytes} byte cap: stopped")
    if expected is not None and not encoded and len(buf) < expected:
        # the same failure a real socket reports, so it is handled the same way: a GET is
        # retried, a submit's answer is lost
        raise httpx.RemoteProtocolError(
            f"{what} is truncated: {len(buf)} of {expected} bytes arrived", request=response.request
        )
    return bytes(buf)


def over_cap(noun: str, exc: InvalidOutputError) -> str:
    """The cause for a body refused by veolab's size cap (``max_download_bytes``)."""
    return f"{noun} is over veolab's size cap ({exc}); raise max_download_bytes to take it"


def detached(response: httpx.Response, body: bytes) -> httpx.Response:
    """A plain, fully read copy of a streamed response (for error messages).

    ``body`` is already decoded, so the copy drops ``Content-Encoding`` (a gzipped error body
    would otherwise be decoded twice and raise httpx.DecodingError) and ``Content-Length``.
    """
    headers = httpx.Headers(response.headers)
    for name in ("content-encoding", "content-length"):
        headers.pop(name, None)
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request
    )


def parse_json(raw: bytes) -> Any:
    """The JSON of a body, or None when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
