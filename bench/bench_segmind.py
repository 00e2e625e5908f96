"""Figures for the segmind provider against `veolab sim serve` (issue 3).

    python bench/bench_segmind.py           # about 2.5 minutes on 2 cores

1. Provider-only sweep: 48 jobs (720p, 4 s, no audio, distinct seeds) with 5 s of simulated
   latency each, at most 8 in flight (the shared limiter), queue mode, against the server in a
   subprocess, rendering in a process pool (one per CPU, the default) and then in threads.
   Ideal wall time 48 x 5 / 8 = 30 s; efficiency = ideal / wall. No analysis, no tracking:
   the ceiling for the experiment runner's own figure. Ledger check: 48 billed jobs,
   48 distinct request ids, 48 submit calls (nothing paid twice).
2. Protocol overhead: mean and p95 wall time of one job through the provider with zero latency
   and a cached render (sync and queue), i.e. what HTTP, polling and verification add.
3. Faults: the same provider at a 5 % random fault rate (500/502/504/dropped connection on
   every API call), 48 jobs: how many succeed after retries, how many end "outcome unknown"
   (never resubmitted), and what the ledger billed.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

from veolab.errors import OutcomeUnknownError, ProviderError
from veolab.providers.segmind import Limiter, SegmindConfig, SegmindProvider
from veolab.request import VideoRequest
from veolab.simserver import fetch_ledger

KEY = "bench-key-not-secret"


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "veolab", "sim", "serve", "--port", "0", "--api-key", KEY, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[1]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(15)


def request(seed: int) -> VideoRequest:
    return VideoRequest(
        prompt="a red fox running through snow",
        duration=4,
        resolution="720p",
        generate_audio=False,
        seed=seed,
    )


def provider(url: str, limiter: Limiter, **settings) -> SegmindProvider:
    base = dict(poll_interval=0.5, poll_max_interval=1.0, retry_backoff=0.05)
    cfg = SegmindConfig(base_url=url, api_key=KEY, **(base | settings))
    return SegmindProvider(cfg, limiter=limiter)


async def sweep(url: str, n: int, in_flight: int, **settings) -> tuple[float, list]:
    limiter = Limiter(max_in_flight=in_flight)
    provs = [provider(url, limiter, **settings) for _ in range(n)]

    async def one(i: int):
        try:
            return await provs[i].generate(request(1000 + i))
        except ProviderError as exc:
            return exc
        finally:
            await provs[i].aclose()

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, results


def bench_sweep(render_workers: str) -> None:
    proc, url = start_server("--latency", "5", "--render-workers", render_workers)
    try:
        wall, results = asyncio.run(sweep(url, 48, 8, poll_interval=0.2, poll_max_interval=0.5))
        ledger = fetch_ledger(url)
    finally:
        stop(proc)
    ok = [r for r in results if not isinstance(r, Exception)]
    ids = {j["request_id"] for j in ledger["jobs"]}
    how = "threads" if render_workers == "0" else f"{render_workers} render processes"
    print(
        f"1. 48 jobs x 5 s, 8 in flight, {how}: wall {wall:.1f} s (ideal 30.0 s), "
        f"efficiency {30 / wall:.3f}; ok {len(ok)}/48; billed {len(ledger['jobs'])}, "
        f"distinct ids {len(ids)}, submit calls {ledger['counts'].get('submit', 0)}, "
        f"total ${ledger['total_cost']:.2f}"
    )


async def timed_jobs(url: str, mode: str, n: int = 30) -> list[float]:
    prov = provider(url, Limiter(1), mode=mode, poll_interval=0.01)
    times = []
    try:
        await prov.generate(request(1))  # warm: renders once, then cached
        for _ in range(n):
            t0 = time.perf_counter()
            await prov.generate(request(1))
            times.append(time.perf_counter() - t0)
    finally:
        await prov.aclose()
    return sorted(times)


def bench_overhead() -> None:
    proc, url = start_server()
    try:
        for mode in ("sync", "queue"):
            times = asyncio.run(timed_jobs(url, mode))
            print(
                f"2. overhead per job, {mode}: mean {statistics.mean(times) * 1000:.1f} ms, "
                f"p95 {times[int(0.95 * len(times)) - 1] * 1000:.1f} ms (30 jobs, cached render)"
            )
    finally:
        stop(proc)


def bench_faults() -> None:
    proc, url = start_server("--latency", "1", "--fault-rate", "0.05", "--fault-seed", "1")
    try:
        wall, results = asyncio.run(sweep(url, 48, 8, max_retries=4))
        time.sleep(2)  # let jobs whose answers were lost finish and bill
        ledger = fetch_ledger(url)
    finally:
        stop(proc)
    ok = [r for r in results if not isinstance(r, Exception)]
    unknown = [r for r in results if isinstance(r, OutcomeUnknownError)]
    other = [
        type(r).__name__
        for r in results
        if isinstance(r, ProviderError) and not isinstance(r, OutcomeUnknownError)
    ]
    faults = sum(1 for a in ledger["attempts"] if a["fault"])
    print(
        f"3. 48 jobs at 5 % faults: {faults} faults injected over {len(ledger['attempts'])} "
        f"API calls; ok {len(ok)}, outcome unknown {len(unknown)} "
        f"({sum(1 for u in unknown if u.request_id)} with an id to resume), other {other}; "
        f"billed {len(ledger['jobs'])}, submit calls {ledger['counts'].get('submit', 0)}, "
        f"wall {wall:.1f} s"
    )


if __name__ == "__main__":
    httpx.get  # noqa: B018  (imported early so its import time is not measured)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    bench_sweep(str(os.cpu_count() or 1))
    bench_sweep("0")
    bench_overhead()
    bench_faults()
