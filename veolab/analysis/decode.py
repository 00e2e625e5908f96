"""Decoded frames of a container's streams, in demux order, from one ``container.demux()`` loop.

With ``threaded=True`` the demuxing and decoding run on a background thread that hands frames
over through a small bounded queue, so that FFmpeg decodes the next frames while the caller
measures the current one (PyAV releases the GIL while FFmpeg decodes, OpenCV and NumPy while they
compute). The queue holds at most ``QUEUE_FRAMES`` frames: memory stays flat. Errors raised while
decoding are re-raised in the caller's thread; leaving the loop early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

QUEUE_FRAMES = 6
_END = object()


def iter_frames(container: Any, streams: list[Any], threaded: bool = True) -> Iterator[Any]:
    """Yield ``(stream, frame)`` for every frame decoded from ``streams``."""
    if not threaded:
        for packet in container.demux(*streams):
            for frame in packet.decode():
                yield packet.stream, frame
        return
    worker = _DecodeThread(container, streams)
    worker.start()
    try:
        while True:
            item = worker.items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        worker.stop()


class _DecodeThread(threading.Thread):
    def __init__(self, container: Any, streams: list[Any]) -> None:
        super().__init__(name="veolab-decode", daemon=True)
        self.container = container
        self.streams = streams
        self.items: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            for packet in self.container.demux(*self.streams):
                for frame in packet.decode():
                    if not self._put((packet.stream, frame)):
                        return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._stopping.is_set():
            try:
                self.items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        """Stop decoding and wait for the thread, so the container can be closed safely."""
        self._stopping.set()
        while self.is_alive():
            try:
                while True:
                    self.items.get_nowait()
            except queue.Empty:
                pass
            self.join(timeout=0.05)
