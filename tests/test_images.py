"""Image references: URLs, data URIs and files, each checked once with a clear error."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pytest

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef, decode_image


def b64_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "url", ["https://example.com/a.png", "http://example.com/a.png?x=1", "HTTPS://EXAMPLE.COM/A"]
)
def test_url(url: str) -> None:
    ref = ImageRef.parse(f"  {url} ")
    assert (ref.kind, ref.value, ref.sha256, ref.data) == ("url", url, None, None)
    assert ref.identity() == {"url": url}
    assert ref.as_data_uri() == url
    assert ref.describe() == url


def test_base64_data_uri(make_png) -> None:
    data = make_png("a.png", (200, 30, 30)).read_bytes()
    ref = ImageRef.parse(b64_uri(data))
    assert (ref.kind, ref.mime, ref.data) == ("data", "image/png", data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.identity() == {"sha256": hashlib.sha256(data).hexdigest()}
    assert ref.as_data_uri() == b64_uri(data)
    assert ref.describe() == f"data:image/png sha256:{ref.sha256[:12]}"


def test_data_uri_scheme_and_base64_flag_are_case_insensitive(make_png) -> None:
    data = make_png("a.png", (200, 30, 30)).read_bytes()
    payload = base64.b64encode(data).decode()
    for uri in (f"DATA:image/PNG;BASE64,{payload}", f"Data:image/png;Base64,{payload}"):
        ref = ImageRef.parse(uri)
        assert (ref.kind, ref.mime, ref.data) == ("data", "image/png", data)


def test_data_uri_without_mime_sniffs_it(make_png) -> None:
    data = make_png("a.png", (200, 30, 30)).read_bytes()
    ref = ImageRef.parse("data:;base64," + base64.b64encode(data).decode())
    assert ref.mime == "image/png"


def test_percent_encoded_data_uri(make_png) -> None:
    # RFC 2397: without ;base64 the payload is the bytes, percent-encoded
    data = make_png("a.png", (10, 200, 30)).read_bytes()
    ref = ImageRef.parse("data:image/png," + urllib.parse.quote_from_bytes(data))
    assert ref.data == data
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.as_data_uri() == b64_uri(data)  # normalised for hosts that want base64


def test_base64_with_line_breaks(make_png) -> None:
    data = make_png("a.png", (10, 200, 30)).read_bytes()
    payload = base64.encodebytes(data).decode()  # 76-column lines
    assert "\n" in payload
    assert ImageRef.parse("data:image/png;base64," + payload).data == data


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "an image reference must be an http(s) URL, a data: URI or a file path"),
        ("   ", "an image reference must be an http(s) URL, a data: URI or a file path"),
        ("data:image/png;base64", "malformed data: URI: expected data:image/...;base64,..."),
        ("data:image/png;base64,@@@@", "data: URI has invalid base64 content"),
        (
            "data:image/png;base64," + base64.b64encode(b"not an image at all").decode(),
            "the data: URI does not decode as an image: give a PNG, JPEG, WebP or BMP file",
        ),
        (
            "data:,hello",
            "the data: URI does not decode as an image: give a PNG, JPEG, WebP or BMP file",
        ),
        (
            "ftp://example.com/a.png",
            "unsupported image URL scheme in 'ftp://example.com/a.png': use http(s), a data: "
            "URI or a path",
        ),
        (
            "s3://bucket/a.png",
            "unsupported image URL scheme in 's3://bucket/a.png': use http(s), a data: URI or "
            "a path",
        ),
    ],
)
def test_bad_references(value: str, message: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        ImageRef.parse(value)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_non_string_is_rejected() -> None:
    with pytest.raises(ImageReferenceError, match="must be an http"):
        ImageRef.parse(42)  # type: ignore[arg-type]


def test_file(make_png) -> None:
    path = make_png("first.png", (200, 30, 30))
    data = path.read_bytes()
    ref = ImageRef.parse(str(path))
    assert (ref.kind, ref.value, ref.mime, ref.data) == ("file", str(path), "image/png", data)
    assert ref.identity() == {"sha256": hashlib.sha256(data).hexdigest()}
    assert ref.as_data_uri() == b64_uri(data)
    assert ref.describe() == str(path)


def test_jpeg_file_mime(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((20, 20, 3), 128, np.uint8))
    assert ok
    path = tmp_path / "photo.jpeg"
    path.write_bytes(buf.tobytes())
    assert ImageRef.parse(str(path)).mime == "image/jpeg"


def test_file_is_read_once(make_png) -> None:
    path = make_png("first.png", (200, 30, 30))
    data = path.read_bytes()
    ref = ImageRef.parse(str(path))
    path.write_bytes(b"changed afterwards")
    assert ref.data == data
    assert ref.sha256 == hashlib.sha256(data).hexdigest()


def test_relative_path_with_base_dir(make_png, tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    make_png("frames/first.png", (1, 2, 3))
    ref = ImageRef.parse("frames/first.png", base_dir=tmp_path)
    assert ref.value == str(tmp_path / "frames" / "first.png")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReferenceError) as info:
        ImageRef.parse(str(tmp_path / "missing.png"))
    assert str(info.value) == f"image file not found: {tmp_path / 'missing.png'} (check the path)"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReferenceError) as info:
        ImageRef.parse(str(tmp_path))
    assert str(info.value) == f"image path {tmp_path} is a directory: give an image file"


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n", b"\x89PNG\r\n\x1a\ntruncated"])
def test_non_image_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(ImageReferenceError) as info:
        ImageRef.parse(str(path))
    assert str(info.value) == (
        f"image file {path} does not decode as an image: give a PNG, JPEG, WebP or BMP file"
    )


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    # a FIFO is not a regular file: reading one would block; it must be refused, not read
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReferenceError, match=r"^image file not found: .*pipe\.png"):
        ImageRef.parse(str(fifo))


def test_decode_image_is_rgb(make_png) -> None:
    rgb = decode_image(make_png("red.png", (250, 10, 20), size=(8, 4)).read_bytes(), "x")
    assert rgb.shape == (4, 8, 3)
    assert rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [250, 10, 20]


def test_equality_ignores_the_cached_bytes(make_png) -> None:
    path = make_png("a.png", (1, 2, 3))
    assert ImageRef.parse(str(path)) == ImageRef.parse(str(path))
