"""Open a video (a path or bytes) with PyAV and read its container facts.

Every PyAV or OS failure is turned into :class:`veolab.errors.AnalysisError` here, so callers
never see a foreign exception. FFmpeg's MP4 demuxer applies edit lists, so the durations and
timestamps read here are the edited ones (what a player shows), as real Veo clips need.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import av

from veolab.analysis.result import AudioProbe, Probe, VideoProbe
from veolab.errors import AnalysisError

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
# FFmpeg demuxers that read single pictures ("png_pipe", "jpeg_pipe", ... end in _pipe)
IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})


def describe(source: Source) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return f"the in-memory video ({len(source)} bytes)"
    return str(source)


def open_container(source: Source) -> tuple[Any, int]:
    """(an open PyAV input container, size in bytes); AnalysisError when it is not a media file."""
    what = describe(source)
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            if not data:
                raise AnalysisError(f"{what} is empty: not a video")
            size = len(data)
            container = av.open(io.BytesIO(data), mode="r")
        else:
            path = Path(source)
            if not path.is_file():
                raise AnalysisError(f"{what}: no such file")
            size = path.stat().st_size
            if size == 0:
                raise AnalysisError(f"{what} is empty: not a video")
            container = av.open(str(path), mode="r")
    except AnalysisError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AnalysisError(f"{what} cannot be read as a video: {_reason(exc)}") from exc
    return container, size


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _seconds(value: int | None, time_base: Any) -> float | None:
    if value is None or time_base is None:
        return None
    return round(float(value * time_base), 6)


def _rate(rate: Any) -> tuple[float | None, str | None]:
    if not rate:
        return None, None
    return round(float(rate), 6), f"{rate.numerator}/{rate.denominator}"


def read_probe(container: Any, size: int, what: str) -> Probe:
    """The container, video and first audio stream facts; AnalysisError without a video stream."""
    if not container.streams.video:
        raise AnalysisError(f"{what} has no video stream: not a video")
    fmt = container.format.name
    if fmt in IMAGE_DEMUXERS or fmt.endswith("_pipe"):
        raise AnalysisError(f"{what} is a still image ({fmt}), not a video")
    v = container.streams.video[0]
    vcc = v.codec_context
    fps, fps_fraction = _rate(v.average_rate or v.guessed_rate)
    video = VideoProbe(
        codec=vcc.name,
        profile=vcc.profile or None,
        width=vcc.width,
        height=vcc.height,
        pix_fmt=vcc.format.name if vcc.format is not None else None,
        fps=fps,
        fps_fraction=fps_fraction,
        frame_count=v.frames or None,
        duration_s=_seconds(v.duration, v.time_base),
        start_s=_seconds(v.start_time, v.time_base),
        time_base=str(v.time_base) if v.time_base else None,
        bit_rate=v.bit_rate or None,
    )
    audio = None
    if container.streams.audio:
        a = container.streams.audio[0]
        acc = a.codec_context
        layout = acc.layout
        audio = AudioProbe(
            codec=acc.name,
            profile=acc.profile or None,
            sample_rate=acc.sample_rate,
            channels=layout.nb_channels if layout is not None else 0,
            layout=layout.name if layout is not None else None,
            duration_s=_seconds(a.duration, a.time_base),
            start_s=_seconds(a.start_time, a.time_base),
            bit_rate=a.bit_rate or None,
        )
    meta = dict(container.metadata or {})
    duration = container.duration
    return Probe(
        container=container.format.name,
        brand=meta.get("major_brand"),
        encoder=meta.get("encoder"),
        size_bytes=size,
        duration_s=round(duration / av.time_base, 6) if duration else None,
        bit_rate=container.bit_rate or None,
        video=video,
        audio=audio,
    )


def probe_video(source: Source) -> Probe:
    """The container facts of ``source`` without decoding it."""
    container, size = open_container(source)
    with container:
        return read_probe(container, size, describe(source))
