"""Image references: an http(s) URL, a ``data:`` URI, or a local file path.

A local file is read once, must decode as an image, and its bytes' sha256 becomes part of the
request's identity (the path does not: the same bytes under another name are the same request).

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


def decode_image(data: bytes, what: str) -> np.ndarray:
    """Decode image bytes to an (H, W, 3) RGB uint8 array, or raise ImageReferenceError."""
    import cv2  # lazy: keeps `veolab --help` free of OpenCV
    import numpy as np

    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
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
