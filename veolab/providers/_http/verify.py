"""Cheap structural checks that bytes are an MP4 before anyone treats them as a video: what any
host sent back, and what the video store holds."""

from __future__ import annotations

from veolab.errors import InvalidOutputError

MIN_MP4_BYTES = 1024
MAX_MP4_BYTES = 512 * 1024 * 1024


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))


def verify_mp4(data: bytes, *, max_bytes: int = MAX_MP4_BYTES, what: str = "the output") -> None:
    """Raise InvalidOutputError unless ``data`` starts with an ISO-BMFF ``ftyp`` box of a sane
    size, holds a ``moov`` and an ``mdat`` box at the top level, and is within the size cap."""
    if looks_like_html(data):
        raise InvalidOutputError(f"{what} is an HTML page, not a video: the host returned an error")
    if len(data) < MIN_MP4_BYTES:
        raise InvalidOutputError(f"{what} is {len(data)} bytes: too small to be a video")
    if len(data) > max_bytes:
        raise InvalidOutputError(f"{what} is larger than the {max_bytes} byte cap")
    if data[4:8] != b"ftyp":
        raise InvalidOutputError(f"{what} is not an MP4 (no ftyp box at the start)")
    seen = set()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if size == 1 and pos + 16 <= len(data):
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            size = len(data) - pos
        if size < 8 or pos + size > len(data):
            raise InvalidOutputError(
                f"{what} is truncated: box {kind.decode('latin-1')!r} runs past the end"
            )
        seen.add(kind)
        pos += size
    if b"moov" not in seen or b"mdat" not in seen:
        raise InvalidOutputError(f"{what} is an incomplete MP4 (missing moov or mdat)")
