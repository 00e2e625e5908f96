"""What a provider is doing with the job in hand, for whoever shows progress.

A provider calls :func:`report_phase` when a job changes phase in a way its caller cannot see
from outside ``generate()`` (the video is being downloaded); it costs nothing when nobody
watches::

    from veolab.providers.phase import report_phase

    report_phase("downloading")

The caller (``veolab.runner.pipeline``) watches one job at a time per asyncio task::

    with watch_phases(lambda phase: print(phase)):
        await provider.generate(request)

The callback lives in a ContextVar: each asyncio task (each job of a sweep) sees its own, and
a thread started with ``asyncio.to_thread`` inherits its task's. A phase is a word
(``downloading``); the callback must be quick and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_WATCHER: ContextVar[Callable[[str], None] | None] = ContextVar("veolab_phase", default=None)


def report_phase(phase: str) -> None:
    """Tell the watcher of the current job (if any) that it is now in ``phase``."""
    watcher = _WATCHER.get()
    if watcher is not None:
        watcher(phase)


@contextmanager
def watch_phases(callback: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, :func:`report_phase` in this task calls ``callback``."""
    token = _WATCHER.set(callback)
    try:
        yield
    finally:
        _WATCHER.reset(token)
