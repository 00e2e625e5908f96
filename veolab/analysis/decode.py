"""Decoded frames of a container's streams, in demux order, from one ``container.demux()`` loop.

    with open_frames(container, [video, audio]) as frames:
        for stream, frame in frames:
            ...

With ``threaded=True`` the demuxing and decoding start at once on a background thread that hands
frames over through a small bounded buffer, so that FFmpeg decodes the next frames while the
caller measures the current one (PyAV releases the GIL while FFmpeg decodes, OpenCV and NumPy
while they compute). Until the caller takes its first frame the buffer may hold up to
``STARTUP_BYTES`` of frames, so that decoding also overlaps what the caller does before its
loop (``veolab check`` imports NumPy and OpenCV meanwhile); after that it holds at most
``QUEUE_FRAMES`` frames, and memory stays flat. Errors raised while decoding are re-raised in the
caller's thread; leaving the ``with`` block, early or on an error, stops the thread before the
container may be closed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any

QUEUE_FRAMES = 6
STARTUP_BYTES = 48 << 20  # about 15 decoded 1080p pictures with the audio between them
_END = object()


class FrameStream:
    """Iterate ``(stream, frame)`` for every frame decoded from ``streams``; a context manager."""

    def __init__(self, container: Any, streams: list[Any], threaded: bool = True) -> None:
        self._worker = _DecodeThread(container, streams) if threaded else None
        self._serial = None if threaded else _serial(container, streams)
        if self._worker is not None:
            self._worker.start()

    def __iter__(self) -> Iterator[Any]:
        if self._serial is not None:
            yield from self._serial
            return
        assert self._worker is not None
        while True:
            item = self._worker.take()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop decoding and wait for the thread, so the container can be closed safely."""
        if self._worker is not None:
            self._worker.stop()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_frames(container: Any, streams: list[Any], threaded: bool = True) -> FrameStream:
    """Start decoding ``streams`` (on a thread unless ``threaded`` is false)."""
    return FrameStream(container, streams, threaded)


def _serial(container: Any, streams: list[Any]) -> Iterator[Any]:
    for packet in container.demux(*streams):
        for frame in packet.decode():
            yield packet.stream, frame


def _size(frame: Any) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class _DecodeThread(threading.Thread):
    def __init__(self, container: Any, streams: list[Any]) -> None:
        super().__init__(name="veolab-decode", daemon=True)
        self.container = container
        self.streams = streams
        self._items: deque[tuple[Any, int]] = deque()
        self._bytes = 0
        self._taken = False  # the consumer has begun: from now on QUEUE_FRAMES bounds the buffer
        self._stopping = False
        self._cond = threading.Condition()

    def run(self) -> None:
        try:
            for packet in self.container.demux(*self.streams):
                for frame in packet.decode():
                    if not self._put((packet.stream, frame), _size(frame)):
                        return
            self._put(_END, 0)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc, 0)

    def _full(self, size: int) -> bool:
        if len(self._items) < QUEUE_FRAMES:
            return False
        return self._taken or self._bytes + size > STARTUP_BYTES

    def _put(self, item: Any, size: int) -> bool:
        with self._cond:
            while not self._stopping and self._full(size):
                self._cond.wait()
            if self._stopping:
                return False
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()
            return True

    def take(self) -> Any:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item, size = self._items.popleft()
            self._bytes -= size
            self._taken = True
            self._cond.notify_all()
            return item

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
        self.join()
