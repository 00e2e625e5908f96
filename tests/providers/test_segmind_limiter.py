"""The shared client-side budget: jobs in flight and submits per minute."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from veolab.providers.segmind import Limiter, SegmindConfig, SegmindProvider, shared_limiter


class Peak:
    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_at_most_n_in_flight_and_all_finish():
    limiter, peak = Limiter(max_in_flight=3), Peak()

    async def job(i):
        async with limiter.slot():
            with peak:
                await asyncio.sleep(0.01)
        return i

    async def main():
        return await asyncio.gather(*(job(i) for i in range(20)))

    assert asyncio.run(main()) == list(range(20))
    assert (peak.peak, limiter.in_flight) == (3, 0)


def test_cancelled_waiters_do_not_leak_slots():
    limiter = Limiter(max_in_flight=1)

    async def main():
        await limiter.acquire()
        waiters = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        limiter.release()  # handed to waiter 0, which is being cancelled: passes to waiter 1
        await asyncio.sleep(0.01)
        assert waiters[1].done() and not waiters[2].done()
        waiters[2].cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        limiter.release()
        return limiter.in_flight

    assert asyncio.run(main()) == 0


def test_one_limiter_shared_across_threads_and_event_loops():
    limiter, peak = Limiter(max_in_flight=2), Peak()

    def worker():
        async def main():
            async def job():
                async with limiter.slot():
                    with peak:
                        await asyncio.sleep(0.02)

            await asyncio.gather(*(job() for _ in range(5)))

        asyncio.run(main())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert (peak.peak, limiter.in_flight) == (2, 0)


def test_submits_per_window_are_spaced():
    limiter = Limiter(max_in_flight=10, submits_per_minute=2, window=0.3)

    async def main():
        t0 = time.perf_counter()
        stamps = []
        for _ in range(5):
            await limiter.submit_permit()
            stamps.append(time.perf_counter() - t0)
        return stamps

    stamps = asyncio.run(main())
    assert stamps[1] < 0.1 and 0.29 <= stamps[2] < 0.6 and 0.59 <= stamps[4] < 1.2
    assert 0.59 <= limiter.submit_wait_total < 0.7  # the 3rd and the 5th waited 0.3 s each


def test_fractional_rate_widens_the_window():
    limiter = Limiter(submits_per_minute=0.5)
    assert (limiter._per_span, limiter._span) == (1, 120.0)


def test_no_rate_means_no_wait():
    assert asyncio.run(Limiter().submit_permit()) == 0.0


@pytest.mark.parametrize("bad", [{"max_in_flight": 0}, {"submits_per_minute": 0}])
def test_bad_limits(bad):
    with pytest.raises(ValueError):
        Limiter(**bad)


def test_providers_of_one_account_share_a_limiter():
    def make(key, **kw):
        return SegmindProvider(SegmindConfig(api_key=key, base_url="http://127.0.0.1:9", **kw))

    a, b, other = make("SG_aaaa"), make("SG_aaaa"), make("SG_bbbb")
    assert a.limiter is b.limiter and a.limiter is not other.limiter
    assert make("SG_aaaa", max_in_flight=8).limiter is not a.limiter
    assert shared_limiter("k", max_in_flight=2) is shared_limiter("k", max_in_flight=2)
    given = Limiter(1)
    assert SegmindProvider(SegmindConfig(api_key="SG_x"), limiter=given).limiter is given
