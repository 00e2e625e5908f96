"""``analyze_video``: one streaming decode pass over a clip's video and audio.

Both streams are demuxed in a single ``container.demux()`` loop; each decoded frame goes to the
picture, sound and thumbnail collectors and is then dropped, so peak memory does not grow with
the clip's length. A file that is not a video, is truncated, or stops decoding part-way raises
:class:`veolab.errors.AnalysisError`; no partial result is ever returned.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import av

from veolab.analysis.checks import CheckThresholds, Expectations, run_checks
from veolab.analysis.decode import open_frames
from veolab.analysis.probe import Source, describe, open_container, read_probe
from veolab.analysis.result import AnalysisResult, Metrics, Probe
from veolab.errors import AnalysisError

# Decoded video must reach the header's duration within this many frame intervals.
TRUNCATION_FRAMES = 2
# Decoded audio must reach the header's duration within this many seconds.
AUDIO_SLACK_S = 0.1
THREAD_TYPE = "AUTO"  # FFmpeg frame + slice threads for the video decoder, when cores are idle


def analyze_video(
    source: Source,
    expectations: Expectations | None = None,
    thresholds: CheckThresholds | None = None,
    n_thumbnails: int = 8,
    thumb_width: int = 320,
    *,
    decode_thread: bool = True,
    decoder_threads: int | None = None,
) -> AnalysisResult:
    """Probe, measure, check and take stills of one clip (a path or the MP4 bytes).

    ``decode_thread`` decodes on a background thread while this one measures (same results,
    less wall time on a machine with a spare core). ``decoder_threads`` is the video decoder's
    thread count: None gives FFmpeg's own on idle cores and one when the cores are busy (a sweep
    analysing several clips beside its HTTP and MLflow work); 0 is FFmpeg's choice whatever the
    load (``veolab check``: the one clip a person waits for).

    res = analyze_video("clip.mp4", Expectations(duration=8, fps=24))
    res.passed, res.to_dict()["checks"][0]["name"]
    # -> (True, 'duration')
    """
    expectations = expectations or Expectations()
    thresholds = thresholds or CheckThresholds()
    what = describe(source)
    container, size = open_container(source)
    with container, _running(decode_thread, decoder_threads) as threads:
        probe = read_probe(container, size, what)
        metrics, thumbs, sheet = _decode_pass(
            container,
            probe,
            thresholds,
            n_thumbnails,
            thumb_width,
            what,
            decode_thread,
            threads,
        )
    checks = run_checks(probe, metrics, expectations, thresholds)
    return AnalysisResult(
        probe=probe, metrics=metrics, checks=checks, thumbnails=thumbs, contact_sheet=sheet
    )


def _decode_pass(
    container: Any,
    probe: Probe,
    thr: CheckThresholds,
    n_thumbs: int,
    thumb_width: int,
    what: str,
    threaded: bool = True,
    decoder_threads: int = 0,
) -> tuple[Metrics, list, bytes]:
    vstream = container.streams.video[0]
    vstream.thread_type = THREAD_TYPE
    if decoder_threads:
        vstream.codec_context.thread_count = decoder_threads
    astream = container.streams.audio[0] if container.streams.audio else None
    with_audio = astream is not None and probe.audio is not None and bool(probe.audio.sample_rate)
    streams = [vstream] + ([astream] if with_audio else [])
    # decoding starts now, so that the first frames are ready while NumPy and OpenCV load (the
    # first analysis of a process, `veolab check`: about a fifth of a second)
    with open_frames(container, streams, threaded=threaded) as frames:
        return _measure(frames, vstream, with_audio, probe, thr, n_thumbs, thumb_width, what)


def _measure(
    frames: Any,
    vstream: Any,
    with_audio: bool,
    probe: Probe,
    thr: CheckThresholds,
    n_thumbs: int,
    thumb_width: int,
    what: str,
) -> tuple[Metrics, list, bytes]:
    from veolab.analysis.audio_metrics import AudioAnalyzer
    from veolab.analysis.thumbnails import ThumbnailCollector
    from veolab.analysis.video_metrics import VideoAnalyzer

    header_fps = probe.video.fps
    interval = 1.0 / header_fps if header_fps else None
    header_duration = probe.video.duration_s or probe.duration_s
    rate = header_fps or 24.0
    video = VideoAnalyzer(
        thr, colour_step=max(1, round(rate / 6)), sharpness_step=max(1, round(rate / 2))
    )
    thumbs = ThumbnailCollector(header_duration, header_fps, n_thumbs, thumb_width)
    audio = (
        AudioAnalyzer(probe.audio.sample_rate, max(1, probe.audio.channels), thr)
        if with_audio and probe.audio is not None and probe.audio.sample_rate
        else None
    )
    t = 0.0
    try:
        for stream, frame in frames:
            if stream is vstream:
                t = _frame_time(frame, video.n, interval)
                video.feed(frame, t)
                thumbs.feed(frame, t)
            else:
                audio.feed(frame)  # type: ignore[union-attr]
    except av.FFmpegError as exc:
        raise AnalysisError(
            f"{what} is truncated or corrupt: decoding failed at {t:.2f} s "
            f"({exc.strerror or type(exc).__name__})"
        ) from exc
    except (ValueError, MemoryError) as exc:
        raise AnalysisError(f"{what} could not be decoded at {t:.2f} s: {exc}") from exc

    if video.n == 0:
        raise AnalysisError(f"{what} has a video stream but no frame could be decoded")
    first = video.first_t or 0.0
    fps: float | None
    if video.n > 1 and video.last_t > first:
        fps = (video.n - 1) / (video.last_t - first)
    else:
        fps = header_fps
    step = interval or (1.0 / fps if fps else 0.0)
    end = video.last_t + step
    decoded = end - first
    if header_duration and step and decoded < header_duration - TRUNCATION_FRAMES * step - 1e-6:
        raise AnalysisError(
            f"{what} is truncated or corrupt: decoding stopped after {video.n} frames "
            f"({decoded:.2f} s) of the {header_duration:.2f} s in its header"
        )
    pic = video.finish(end)
    snd: dict[str, Any] = {}
    if audio is not None:
        snd = audio.finish()
        a_header = probe.audio.duration_s if probe.audio else None
        if a_header and snd["audio_duration_s"] < a_header - AUDIO_SLACK_S:
            raise AnalysisError(
                f"{what} is truncated or corrupt: its audio stopped after "
                f"{snd['audio_duration_s']:.2f} s of the {a_header:.2f} s in its header"
            )
    frame_w, frame_h = video.size
    metrics = Metrics(
        width=frame_w,
        height=frame_h,
        frame_count=video.n,
        duration_s=round(decoded, 6),
        fps=round(fps, 6) if fps else None,
        **pic,
        **snd,
    )
    stills, sheet = thumbs.finish()
    return metrics, stills, sheet


_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
_busy = 0  # threads that analyses of this process keep busy (a sweep runs several at once)
_busy_lock = threading.Lock()


@contextmanager
def _running(threaded: bool, asked: int | None = None) -> Iterator[int]:
    """Count this analysis's threads; yield the video decoder's thread count (0: FFmpeg's choice).

    ``asked`` (not None) is yielded as it is.

    FFmpeg's frame threads only pay off on idle cores: when other analyses already keep every
    core busy, or the machine is loaded anyway (a sweep's own HTTP and MLflow work, other
    programs), they add start-up and hand-over work (about 15 % more CPU for a 720p clip) and no
    speed, so the decoder gets one thread. The decoded pictures are the same either way.
    """
    global _busy
    mine = 2 if threaded else 1  # the decode thread and this one
    cores = _cores or 1
    with _busy_lock:
        _busy += mine
        crowded = _busy > cores
    try:
        if asked is not None:
            yield asked
        else:
            yield 1 if crowded or _load() >= cores else 0
    finally:
        with _busy_lock:
            _busy -= mine


def _load() -> float:
    """The 1-minute load average (runnable threads of every process); 0 where there is none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return 0.0


def _frame_time(frame: Any, index: int, interval: float | None) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return index * (interval or 1 / 24)
