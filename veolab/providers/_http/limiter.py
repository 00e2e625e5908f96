"""A client-side budget shared by every run that talks to one Segmind account.

Two limits, both optional in effect:

- **in flight**: at most ``max_in_flight`` generations (a job from its submit to its last
  download byte) at once. A queued job occupies the host even while we only poll it, so the
  unit is the job, not the HTTP request.
- **submits per minute**: at most ``R`` submit POSTs (retries included) in any sliding window
  of 60 seconds. Polls and downloads are not submits.

The limiter is safe across threads and event loops (its state sits behind a
``threading.Lock``; waiters are woken with ``call_soon_threadsafe``), so one instance can be
shared by runs on different loops::

    limiter = shared_limiter("https://api.segmind.com|acct", max_in_flight=8, submits_per_minute=30)
    async with limiter.slot():
        await limiter.submit_permit()
        ...  # POST the submit
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["Limiter", "account_limiter", "shared_limiter"]


class Limiter:
    """At most ``max_in_flight`` jobs at once and ``submits_per_minute`` submits per minute."""

    def __init__(
        self,
        max_in_flight: int = 4,
        submits_per_minute: float | None = None,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if submits_per_minute is not None and submits_per_minute <= 0:
            raise ValueError("submits_per_minute must be positive")
        self.max_in_flight = max_in_flight
        self.submits_per_minute = submits_per_minute
        # R per minute as "n submits per span": exact for whole R; R < 1 widens the span
        if submits_per_minute is None:
            self._per_span, self._span = 0, 0.0
        else:
            self._per_span = max(1, math.floor(submits_per_minute))
            self._span = window * self._per_span / submits_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._submits: deque[float] = deque()
        self.submit_wait_total = 0.0  # seconds spent waiting for submit permits, all callers

    # -- in flight --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> None:
        """Take one in-flight slot, waiting in FIFO order if all are taken."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < self.max_in_flight and not self._waiters:
                self._in_flight += 1
                return
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut  # a releasing holder hands its slot straight to us
        except asyncio.CancelledError:
            with self._lock:
                queued = entry in self._waiters
                if queued:
                    self._waiters.remove(entry)
            if not queued and fut.done() and not fut.cancelled():
                self.release()  # the slot reached us just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the next waiter if there is one."""
        with self._lock:
            while self._waiters:
                loop, fut = self._waiters.popleft()
                if fut.done():
                    continue
                try:
                    loop.call_soon_threadsafe(self._hand_over, fut)
                except RuntimeError:  # that waiter's loop is closed: try the next one
                    continue
                return
            self._in_flight -= 1

    def _hand_over(self, fut: asyncio.Future[None]) -> None:
        if fut.done():  # cancelled between release() and now: the slot moves on
            self.release()
        else:
            fut.set_result(None)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    # -- submits per minute -----------------------------------------------------------------

    async def submit_permit(self) -> float:
        """Wait until one more submit fits the per-minute budget; returns the seconds waited."""
        if not self._per_span:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._submits and now - self._submits[0] >= self._span:
                    self._submits.popleft()
                if len(self._submits) < self._per_span:
                    self._submits.append(now)
                    self.submit_wait_total += waited
                    return waited
                delay = self._submits[0] + self._span - now
            delay = max(delay, 0.001)
            await asyncio.sleep(delay)
            waited += delay


_SHARED: dict[tuple[str, int, float | None], Limiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(
    key: str = "default", *, max_in_flight: int = 4, submits_per_minute: float | None = None
) -> Limiter:
    """The process-wide limiter for ``key`` and these limits (created on first use).

    Providers built with the same base URL, API key and limits share one; pass a
    :class:`Limiter` explicitly to share a budget across different settings.
    """
    with _SHARED_LOCK:
        ident = (key, max_in_flight, submits_per_minute)
        lim = _SHARED.get(ident)
        if lim is None:
            lim = _SHARED[ident] = Limiter(max_in_flight, submits_per_minute)
        return lim


def account_limiter(base_url: str, api_key: str, config: Any) -> Limiter:
    """The process-wide limiter of one account on one host: ``base_url`` and a hash of
    ``api_key`` (never the key itself) with ``config``'s ``max_in_flight`` and
    ``submits_per_minute``. What a keyed host's provider uses unless it was given one."""
    account = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return shared_limiter(
        f"{base_url}|{account}",
        max_in_flight=config.max_in_flight,
        submits_per_minute=config.submits_per_minute,
    )
