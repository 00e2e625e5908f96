"""Files that cannot be analysed give one clear AnalysisError (exit 2), never a partial result."""

from __future__ import annotations

import functools
import random
import re

import av
import cv2
import numpy as np
import pytest
from media import encode, pattern, tone

from veolab.analysis import analyze_video, probe_video
from veolab.errors import AnalysisError, VeolabError


@functools.cache
def _clip(faststart: bool, audio: bool = True) -> bytes:
    return encode(
        [pattern(i) for i in range(48)], audio=tone(2.0) if audio else None, faststart=faststart
    )


def _png() -> bytes:
    ok, buf = cv2.imencode(".png", np.zeros((36, 64, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _corrupt(data: bytes) -> bytes:
    out = bytearray(data)
    n = len(data)
    out[n // 3 : n // 3 + n // 5] = bytes(n // 5)  # zero a fifth of the file in the middle
    return bytes(out)


def _scramble(data: bytes) -> bytes:
    out = bytearray(data)
    rng = random.Random(1)
    for _ in range(400):
        out[rng.randrange(len(out) // 3, 2 * len(out) // 3)] = rng.randrange(256)
    return bytes(out)


CASES = [
    ("empty", lambda: b"", "is empty: not a video"),
    ("text", lambda: b"hello, world\n" * 500, "cannot be read as a video"),
    ("random", lambda: random.Random(2).randbytes(20000), "cannot be read as a video"),
    ("png", _png, r"is a still image \(png_pipe\), not a video"),
    (
        "half, moov at the end",
        lambda: _clip(False)[: len(_clip(False)) // 2],
        "cannot be read as a video",
    ),
    (
        "half, moov first",
        lambda: _clip(True)[: len(_clip(True)) // 2],
        "is truncated or corrupt: decoding",
    ),
    (
        "60%, moov first, no audio",
        lambda: _clip(True, False)[: len(_clip(True, False)) * 6 // 10],
        # FFmpeg's frame threads end quietly at the cut; one decoder thread (the analysis uses
        # one on a loaded machine) reports the cut packet as invalid data: both say truncated
        r"decoding stopped after \d+ frames \(\d\.\d\d s\) of the 2\.00 s in its header"
        r"|is truncated or corrupt: decoding failed at \d\.\d\d s",
    ),
    ("zeroed middle", lambda: _corrupt(_clip(True)), "is truncated or corrupt: decoding"),
    ("scrambled middle", lambda: _scramble(_clip(False)), "is truncated or corrupt: decoding"),
]


@pytest.mark.parametrize(("name", "make", "message"), CASES, ids=[c[0] for c in CASES])
def test_unanalysable_bytes(name, make, message):
    with pytest.raises(AnalysisError) as info:
        analyze_video(make())
    assert re.search(message, str(info.value)), str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AnalysisError, match=r"nope\.mp4: no such file"):
        analyze_video(tmp_path / "nope.mp4")
    with pytest.raises(AnalysisError, match="no such file"):
        analyze_video(tmp_path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone(1.0, channels=1)[:, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 48000, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AnalysisError, match="has no video stream: not a video"):
        analyze_video(path)
    with pytest.raises(AnalysisError, match="has no video stream"):
        probe_video(path)


def test_errors_are_veolab_errors_chained_from_pyav():
    with pytest.raises(VeolabError) as info:
        analyze_video(b"not a video at all" * 100)
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__module__.startswith("av")
