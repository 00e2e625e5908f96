"""Image bombs are refused from their header before decoding; OpenCV's refusals are converted.

Also ``VEOLAB_HOME`` pointing at a file.
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from veolab._fs import veolab_home
from veolab.cli import cli
from veolab.errors import ConfigError, ImageReferenceError
from veolab.images import MAX_IMAGE_PIXELS, ImageRef, image_size


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` grey pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1024, 9))
        + _chunk(b"IEND", b"")
    )


def tiff_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """An uncompressed TIFF header of ``width`` x ``height`` (a format veolab does not parse)."""
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1)]
    tags += [(262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height)]
    tags += [(279, 4, 1, min(width * height, 2**32 - 1))]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    return b"II*\0" + struct.pack("<I", 24) + b"\0" * 16 + ifd + b"\0\0\0\0"


def encoded(ext: str, width: int = 37, height: int = 21) -> bytes:
    img = np.full((height, width, 3), 120, dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_image_size_reads_real_headers(ext: str) -> None:
    assert image_size(encoded(ext)) == (37, 21)


def test_image_size_of_other_headers() -> None:
    gif = b"GIF89a" + struct.pack("<HH", 640, 360) + b"\0" * 8
    assert image_size(gif) == (640, 360)
    assert image_size(png_bomb(70000, 3)) == (70000, 3)
    assert image_size(b"not an image at all") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # truncated: OpenCV will say it
    assert image_size(tiff_bomb()) is None


BOMB_MESSAGE = (
    "declares 60000x60000 pixels (3,600,000,000), more than the 50,000,000 veolab decodes: "
    "scale it down (Veo uses at most 1920x1080)"
)


def test_bomb_file_and_data_uri_are_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    assert bomb.stat().st_size < 200
    with pytest.raises(ImageReferenceError) as exc:
        ImageRef.parse(str(bomb))
    assert str(exc.value) == f"image file {bomb} {BOMB_MESSAGE}"
    uri = "data:image/png;base64," + base64.b64encode(png_bomb()).decode()
    with pytest.raises(ImageReferenceError) as exc:
        ImageRef.parse(uri)
    assert str(exc.value) == f"the data: URI {BOMB_MESSAGE}"
    # just under the limit is decoded as usual (a 1-pixel-high strip, cheap to decode)
    strip = tmp_path / "strip.png"
    strip.write_bytes(encoded(".png", width=MAX_IMAGE_PIXELS // 10_000, height=1))
    assert ImageRef.parse(str(strip)).kind == "file"


def test_opencv_refusal_is_an_image_reference_error(tmp_path: Path) -> None:
    tif = tmp_path / "bomb.tif"
    tif.write_bytes(tiff_bomb())
    with pytest.raises(ImageReferenceError) as exc:
        ImageRef.parse(str(tif))
    assert str(exc.value) == (
        f"image file {tif} cannot be decoded (OpenCV: pixels <= CV_IO_MAX_IMAGE_PIXELS): give a "
        "PNG, JPEG, WebP or BMP file (Veo uses at most 1920x1080)"
    )


@pytest.mark.parametrize("param", ["image", "last_frame", "reference_images"])
def test_bomb_in_an_experiment_is_one_line(tmp_path: Path, make_png, param: str) -> None:
    (tmp_path / "bomb.png").write_bytes(png_bomb())
    make_png("first.png", (10, 20, 30))
    extra = ", image: first.png" if param == "last_frame" else ""
    path = tmp_path / "e.yaml"
    path.write_text(
        "name: b\nprompt: fox\n"
        f"params: {{resolution: 720p, duration: 8, {param}: bomb.png{extra}}}\n"
    )
    for command in ("plan", "run"):
        r = CliRunner().invoke(cli, [command, str(path)])
        assert r.exit_code == 2
        assert r.stderr == (
            f"Error: {path.resolve()}: params.{param}: image file {tmp_path / 'bomb.png'} "
            f"{BOMB_MESSAGE}\n"
        )
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


def test_bomb_in_generate_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bomb.png").write_bytes(png_bomb())
    r = CliRunner().invoke(cli, ["generate", "-p", "fox", "--image", "bomb.png", "-o", "out.mp4"])
    assert r.exit_code == 2
    assert r.stderr == f"Error: image file bomb.png {BOMB_MESSAGE}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png", "mlruns"]


def test_veolab_home_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("VEOLAB_HOME", str(home))
    with pytest.raises(ConfigError) as exc:
        veolab_home()
    assert str(exc.value) == f"VEOLAB_HOME={home} is a file, not a folder: point it at a folder"
    path = tmp_path / "e.yaml"
    path.write_text("name: h\nprompt: fox\nparams: {resolution: 720p, duration: 4}\nseeds: [1]\n")
    # (`run` opens the MLflow store before it reads VEOLAB_HOME, which takes seconds)
    r = CliRunner().invoke(cli, ["plan", str(path)])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: VEOLAB_HOME={home} is a file, not a folder: point it at a folder\n"
    assert home.read_text() == "not a folder"


def test_unset_veolab_home_and_a_dot_veolab_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEOLAB_HOME")
    monkeypatch.chdir(tmp_path)
    assert veolab_home() == tmp_path / ".veolab"
    (tmp_path / ".veolab").write_text("")
    with pytest.raises(ConfigError) as exc:
        veolab_home()
    assert str(exc.value) == (
        f"VEOLAB_HOME is not set and {tmp_path / '.veolab'} is a file, not a folder: point it at "
        "a folder"
    )
