"""Test clips built with PyAV from NumPy frames, and FFmpeg's own detectors as an oracle.

    frames = [pattern(i) for i in range(48)] + [BLACK] * 24
    data = encode(frames, audio=tone(3.0))          # MP4 bytes: H.264 + AAC
    ffmpeg_black(path, min_duration=0.1)             # [(start, end), ...] from blackdetect

Clips are small (320x180) so that building and decoding them takes milliseconds.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

FPS = 24
W, H = 320, 180
RATE = 48_000
BLACK = np.zeros((H, W, 3), dtype=np.uint8)

requires_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None,
    reason="FFmpeg's filters are the oracle here: install ffmpeg (apt-get install ffmpeg)",
)

PALETTES = (
    ((200, 60, 40), (40, 90, 200)),
    ((30, 170, 80), (230, 210, 60)),
    ((120, 40, 160), (250, 150, 60)),
)


def pattern(i: int, scene: int = 0, w: int = W, h: int = H, speed: float = 4.0) -> np.ndarray:
    """A colourful frame with stripes that move ``speed`` pixels per frame; ``scene`` changes
    the palette and the stripes' direction (a hard cut between scenes)."""
    top, bottom = (np.array(c, dtype=np.float32) for c in PALETTES[scene % len(PALETTES)])
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    grad = top * (1 - ys) + bottom * ys
    xs = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    coord = xs if scene % 2 == 0 else yy + 0 * xs
    stripes = 60.0 * np.sin(2 * np.pi * (coord + speed * i) / 40.0)
    frame = grad + stripes[..., None]
    return np.clip(frame, 0, 255).astype(np.uint8)


def grey(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A moving pattern with R = G = B."""
    g = pattern(i, 0, w, h).mean(axis=2, keepdims=True).astype(np.uint8)
    return np.repeat(g, 3, axis=2)


def solid(rgb: tuple[int, int, int], w: int = W, h: int = H) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def tone(
    seconds: float, freq: float = 440.0, amp: float = 0.5, channels: int = 2, rate: int = RATE
) -> np.ndarray:
    """A sine of ``amp`` peak on every channel: (channels, n) float32."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def quiet(seconds: float, amp: float = 0.0, channels: int = 2, rate: int = RATE) -> np.ndarray:
    """Silence (``amp`` 0) or seeded noise of peak ``amp``: (channels, n) float32."""
    n = round(seconds * rate)
    if not amp:
        return np.zeros((channels, n), dtype=np.float32)
    rng = np.random.default_rng(5)
    return (amp * rng.uniform(-1, 1, size=(channels, n))).astype(np.float32)


def encode(
    frames: Iterable[np.ndarray],
    *,
    fps: int | Fraction = FPS,
    audio: np.ndarray | None = None,
    rate: int = RATE,
    path: Path | None = None,
    crf: int = 16,
    faststart: bool = False,
    container: str = "mp4",
) -> bytes:
    """Encode RGB frames (and optional (channels, n) float audio) as H.264 + AAC; MP4 bytes."""
    if faststart:  # moving moov to the front needs a real, seekable, re-openable file
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / f"clip.{container}"
            _encode(target, frames, fps, audio, rate, crf, container, {"movflags": "+faststart"})
            data = target.read_bytes()
    else:
        buf = io.BytesIO()
        _encode(buf, frames, fps, audio, rate, crf, container, {})
        data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _encode(target, frames, fps, audio, rate, crf, container, options) -> None:
    with av.open(target, "w", format=container, options=options) as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        v.pix_fmt = "yuv420p"
        a = None
        if audio is not None:
            layout = "stereo" if audio.shape[0] == 2 else "mono"
            a = out.add_stream("aac", rate=rate, layout=layout)
        sized = False
        for frame in frames:
            if not sized:
                v.height, v.width = frame.shape[:2]
                sized = True
            out.mux(v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(v.encode(None))
        if a is not None and audio is not None:
            for start in range(0, audio.shape[1], 1024):
                chunk = np.ascontiguousarray(audio[:, start : start + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=a.layout.name)
                af.sample_rate = rate
                af.pts = start
                out.mux(a.encode(af))
            out.mux(a.encode(None))


# -- FFmpeg as the oracle ------------------------------------------------------------------


def _run_ffmpeg(path: Path, *filters: str) -> str:
    cmd = ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), *filters, "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return proc.stderr


def _pairs(text: str, start_key: str, end_key: str) -> list[tuple[float, float]]:
    starts = [float(x) for x in re.findall(rf"{start_key}:\s*([-\d.e]+)", text)]
    ends = [float(x) for x in re.findall(rf"{end_key}:\s*([-\d.e]+)", text)]
    return list(zip(starts, ends, strict=False))


def ffmpeg_black(path: Path, min_duration: float = 0.04) -> list[tuple[float, float]]:
    """blackdetect with its default pixel and picture thresholds."""
    text = _run_ffmpeg(path, "-an", "-vf", f"blackdetect=d={min_duration}")
    return _pairs(text, "black_start", "black_end")


def ffmpeg_freeze(path: Path, min_duration: float = 0.5) -> list[tuple[float, float]]:
    """freezedetect with its default noise (-60 dB)."""
    text = _run_ffmpeg(path, "-an", "-vf", f"freezedetect=n=-60dB:d={min_duration}")
    return _pairs(text, r"lavfi\.freezedetect\.freeze_start", r"lavfi\.freezedetect\.freeze_end")


def ffmpeg_silence(path: Path, min_duration: float = 0.5) -> list[tuple[float, float]]:
    """silencedetect with its default noise (-60 dB)."""
    text = _run_ffmpeg(path, "-vn", "-af", f"silencedetect=n=-60dB:d={min_duration}")
    return _pairs(text, "silence_start", "silence_end")


def ffmpeg_cuts(path: Path, threshold: float = 0.3) -> list[float]:
    """Times of the frames whose scene score (select filter) exceeds ``threshold``."""
    text = _run_ffmpeg(path, "-an", "-vf", f"select='gt(scene,{threshold})',showinfo")
    return [float(x) for x in re.findall(r"pts_time:\s*([\d.]+)", text)]


def ffmpeg_loudness(path: Path) -> float:
    """Integrated loudness from FFmpeg's ebur128 filter."""
    text = _run_ffmpeg(path, "-vn", "-af", "ebur128")
    summary = text.split("Summary:")[-1]
    return float(re.search(r"I:\s*([-\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]


# -- a clip whose content is known frame by frame -------------------------------------------

KNOWN_TRUTH = {
    "frames": 144,
    "duration": 6.0,
    "black": [(1.25, 2.0)],  # frames 30-47
    "frozen": [(2.5, 3.75)],  # frames 60-89 show frame 60
    "cuts": [1.25, 2.0, 3.75, 5.0],  # into black, out of black, scene 0 -> 1, scene 1 -> grey
    "grey": (5.0, 6.0),
    "silent": [(1.5, 2.5), (3.5, 4.75)],  # digital zero, then noise at -66 dBFS
}


def known_frames() -> list[np.ndarray]:
    frames = [pattern(i) for i in range(30)]
    frames += [BLACK] * 18
    frames += [pattern(i) for i in range(48, 60)]
    frames += [pattern(60)] * 30
    frames += [pattern(i, scene=1) for i in range(90, 120)]
    frames += [grey(i) for i in range(120, 144)]
    return frames


def known_audio() -> np.ndarray:
    return np.concatenate(
        [tone(1.5), quiet(1.0), tone(1.0, amp=0.2), quiet(1.25, amp=0.0005), tone(1.25)], axis=1
    )


def known_clip() -> bytes:
    """6 s at 24 fps, 320x180, with the black, frozen, cut, grey and silent spans of KNOWN_TRUTH."""
    return encode(known_frames(), audio=known_audio())
