"""``open_frames``: the decode thread runs ahead while the caller gets ready, then stays bounded."""

from __future__ import annotations

import io
import threading
import time

import av
import pytest
from media import encode, pattern

from veolab.analysis import decode, pipeline
from veolab.analysis.decode import QUEUE_FRAMES, open_frames

FRAMES = 48  # 320x180: 86 KB a picture, 4 MB in all, far below STARTUP_BYTES


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode([pattern(i) for i in range(FRAMES)])


def _decoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "veolab-decode"]


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + 120  # generous: only a hung thread gets near it
    while not predicate():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.01)


def test_before_the_first_frame_is_taken_the_whole_small_clip_is_decoded(clip):
    with (
        av.open(io.BytesIO(clip)) as container,
        open_frames(container, [container.streams.video[0]]) as frames,
    ):
        worker = frames._worker
        _wait(lambda: not worker.is_alive(), "the decoder to finish")
        assert len(worker._items) == FRAMES + 1 > QUEUE_FRAMES  # every frame and the end
        assert sum(1 for _ in frames) == FRAMES


def test_once_the_caller_has_begun_the_buffer_holds_at_most_queue_frames(clip, monkeypatch):
    monkeypatch.setattr(decode, "STARTUP_BYTES", 0)  # no allowance: the steady bound at once
    with (
        av.open(io.BytesIO(clip)) as container,
        open_frames(container, [container.streams.video[0]]) as frames,
    ):
        worker = frames._worker
        _wait(lambda: len(worker._items) >= QUEUE_FRAMES, "a full buffer")
        worker.join(timeout=0.5)
        assert worker.is_alive()  # waiting for room, not decoding on
        assert len(worker._items) == QUEUE_FRAMES
        taken = 0
        for _ in frames:
            taken += 1
            assert len(worker._items) <= QUEUE_FRAMES
        assert taken == FRAMES
    assert not _decoders()


def test_an_error_before_the_loop_stops_the_thread(clip):
    with pytest.raises(RuntimeError, match="set-up failed"):
        with (
            av.open(io.BytesIO(clip)) as container,
            open_frames(container, [container.streams.video[0]]),
        ):
            raise RuntimeError("set-up failed")  # e.g. an import or an analyser's constructor
    assert not _decoders()


def test_serial_frames_are_the_threaded_ones(clip):
    def pts(threaded: bool) -> list[int]:
        with (
            av.open(io.BytesIO(clip)) as container,
            open_frames(container, [container.streams.video[0]], threaded=threaded) as frames,
        ):
            return [frame.pts for _, frame in frames]

    assert pts(True) == pts(False) and len(pts(False)) == FRAMES


@pytest.mark.parametrize(
    ("asked", "load", "expected"),
    [
        (None, 0.0, 0),  # idle machine: FFmpeg's own thread count
        (None, 64.0, 1),  # busy machine (a sweep): one decoder thread
        (0, 64.0, 0),  # veolab check: FFmpeg's own, whatever the load
        (3, 0.0, 3),
    ],
)
def test_decoder_threads_follow_the_load_unless_asked(monkeypatch, asked, load, expected):
    monkeypatch.setattr(pipeline, "_load", lambda: load)
    monkeypatch.setattr(pipeline, "_cores", 8)  # no other analysis of this process is running
    with pipeline._running(True, asked) as threads:
        assert threads == expected
