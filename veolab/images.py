"""Image references: an http(s) URL, a ``data:`` URI, or a local file path.

A local file is read once, must decode as an image, and its bytes' sha256 becomes part of the
request's identity (the path does not: the same bytes under another name are the same request).
An image whose header declares more than ``MAX_IMAGE_PIXELS`` pixels is refused before it is
decoded (a "decompression bomb": a few kilobytes that would decode to gigabytes), and anything
OpenCV refuses while decoding is an ImageReferenceError too.

    >>> ref = ImageRef.parse("https://example.com/a.png")
    >>> ref.kind, ref.identity()
    ('url', {'url': 'https://example.com/a.png'})
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
import struct
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from veolab.errors import ImageReferenceError

if TYPE_CHECKING:
    import numpy as np

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]+)*?)(?P<b64>;base64)?,(?P<data>.*)$",
    re.S | re.I,
)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# Veo takes images up to 1080p; 50 megapixels leaves room for any camera's photos and keeps a
# decoded image under 150 MB (OpenCV's own limit, 2**30 pixels, is 3 GB of RGB)
MAX_IMAGE_PIXELS = 50_000_000


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    w, h = struct.unpack("<ii", data[18:26])
    return abs(w), abs(h)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # markers without a length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as a PNG, JPEG, GIF, BMP or WebP header declares it, without decoding."""
    readers = {
        "image/png": _png_size,
        "image/jpeg": _jpeg_size,
        "image/gif": _gif_size,
        "image/bmp": _bmp_size,
        "image/webp": _webp_size,
    }
    reader = readers.get(_sniff_mime(data) or "")
    try:
        return reader(data) if reader else None
    except struct.error:
        return None


def decode_image(data: bytes, what: str) -> np.ndarray:
    """Decode image bytes to an (H, W, 3) RGB uint8 array, or raise ImageReferenceError."""
    import cv2  # lazy: keeps `veolab --help` free of OpenCV
    import numpy as np

    size = image_size(data)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        w, h = size
        raise ImageReferenceError(
            f"{what} declares {w}x{h} pixels ({w * h:,}), more than the "
            f"{MAX_IMAGE_PIXELS:,} veolab decodes: scale it down (Veo uses at most 1920x1080)"
        )
    arr = np.frombuffer(data, dtype=np.uint8)
    from cv2.utils import logging as cv_log

    level = cv_log.getLogLevel()
    # errors only: a codec's warnings on stderr would break the one-line error
    cv_log.setLogLevel(cv_log.LOG_LEVEL_ERROR)
    try:
        img = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
    except cv2.error as exc:  # OpenCV's own limits (e.g. more than 2**30 pixels)
        reason = " ".join(str(getattr(exc, "err", "") or exc).split())[:160]
        raise ImageReferenceError(
            f"{what} cannot be decoded (OpenCV: {reason}): give a PNG, JPEG, WebP or BMP file "
            "(Veo uses at most 1920x1080)"
        ) from exc
    finally:
        cv_log.setLogLevel(level)
    if img is None or img.size == 0:
        raise ImageReferenceError(
            f"{what} does not decode as an image: give a PNG, JPEG, WebP or BMP file"
        )
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class ImageRef:
    """One image input of a request."""

    kind: Literal["url", "data", "file"]
    value: str  # the URL, the data URI, or the file path as given
    sha256: str | None = None  # of the image bytes (data and file)
    mime: str | None = None
    _data: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def parse(cls, value: str | ImageRef, base_dir: Path | None = None) -> ImageRef:
        """Classify and, for data URIs and files, read and verify the image once."""
        if isinstance(value, ImageRef):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ImageReferenceError(
                "an image reference must be an http(s) URL, a data: URI or a file path"
            )
        value = value.strip()
        low = value.lower()
        if low.startswith(("http://", "https://")):
            return cls(kind="url", value=value)
        if low.startswith("data:"):
            m = _DATA_URI.match(value)
            if not m:
                raise ImageReferenceError("malformed data: URI: expected data:image/...;base64,...")
            payload = m.group("data")
            try:
                if m.group("b64"):
                    data = base64.b64decode("".join(payload.split()), validate=True)
                else:  # RFC 2397: without ;base64 the payload is percent-encoded
                    data = urllib.parse.unquote_to_bytes(payload)
            except (binascii.Error, ValueError) as exc:
                raise ImageReferenceError("data: URI has invalid base64 content") from exc
            decode_image(data, "the data: URI")
            mime = (m.group("mime") or "").lower() or _sniff_mime(data) or "image/png"
            return cls(
                kind="data",
                value=value,
                sha256=hashlib.sha256(data).hexdigest(),
                mime=mime,
                _data=data,
            )
        if re.match(r"^[a-z][a-z0-9+.-]*://", low):
            raise ImageReferenceError(
                f"unsupported image URL scheme in {value!r}: use http(s), a data: URI or a path"
            )
        path = Path(value).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        if path.is_dir():
            raise ImageReferenceError(f"image path {path} is a directory: give an image file")
        if not path.is_file():
            raise ImageReferenceError(f"image file not found: {path} (check the path)")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageReferenceError(
                f"cannot read image file {path}: {exc.strerror or exc}"
            ) from exc
        decode_image(data, f"image file {path}")
        mime = _sniff_mime(data) or mimetypes.guess_type(path.name)[0] or "image/png"
        return cls(
            kind="file",
            value=str(path),
            sha256=hashlib.sha256(data).hexdigest(),
            mime=mime,
            _data=data,
        )

    @property
    def data(self) -> bytes | None:
        """The image bytes (None for URLs, which veolab never downloads)."""
        return self._data

    def identity(self) -> dict[str, str]:
        """What enters the request hash: the content hash, or the URL itself."""
        if self.kind == "url":
            return {"url": self.value}
        return {"sha256": str(self.sha256)}

    def as_data_uri(self) -> str:
        """The image inline as a base64 data URI (URLs are returned unchanged)."""
        if self.kind == "url":
            return self.value
        if self.kind == "data" and ";base64," in self.value[:200].lower():
            return self.value
        assert self._data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self._data).decode()}"

    def describe(self) -> str:
        if self.kind == "data":
            return f"data:{self.mime} sha256:{(self.sha256 or '')[:12]}"
        return self.value
