"""Per-host client overhead: what one job costs the client, through each host's provider,
against `veolab sim serve` (issue 14).

    python bench/bench_hosts.py                  # every host below, about a minute
    python bench/bench_hosts.py vertex segmind   # some of them

The server runs in a subprocess with zero latency and pre-rendered clips (``--prerendered 1``:
each answer is a clip already made), so what a job takes is the client's work and the HTTP
round trips: the submit, the polls, the video (inline base64 or a download), the MP4 check.
Per host: 5 warm-up jobs, then 40 jobs one after another; the client's CPU time per job
(``time.process_time``: the server's work is another process's and is not counted) and the wall
time per job (mean, p95). Polls start at 10 ms. Add a host as a (name, settings) row in HOSTS.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from veolab.providers import get_provider
from veolab.request import VideoRequest

KEY = "bench-token-not-secret"
JOBS, WARMUP = 40, 5
POLL = {"poll_interval": 0.01, "poll_max_interval": 0.01}

#: each host's provider settings against the simulator at ``url``
HOSTS: dict[str, Any] = {
    "segmind": lambda url: {"base_url": url, "api_key": KEY, "mode": "queue", **POLL},
    "vertex": lambda url: {"base_url": url, "api_key": KEY, "project": "bench", **POLL},
    "vertex-gcs": lambda url: {
        "base_url": url,
        "api_key": KEY,
        "project": "bench",
        "storage_uri": "gs://bench/out/",
        **POLL,
    },
    "replicate": lambda url: {"base_url": url, "api_key": KEY, **POLL},
    # the create call holds its answer until the prediction is done (Prefer: wait): no polls
    "replicate-wait": lambda url: {"base_url": url, "api_key": KEY, "wait": 60, **POLL},
    "fal": lambda url: {"base_url": url, "api_key": KEY, **POLL},
}


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veolab",
            "sim",
            "serve",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--prerendered",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip().rsplit(" ", 1)[1]


def request(seed: int) -> VideoRequest:
    return VideoRequest(
        prompt="a red fox running through snow",
        duration=4,
        resolution="720p",
        generate_audio=False,
        seed=seed,
    )


async def measure(name: str, url: str) -> dict[str, float]:
    provider = name.split("-")[0]
    prov = get_provider(provider, HOSTS[name](url) | {"submits_per_minute": None})
    walls, cpus = [], []
    try:
        for i in range(WARMUP + JOBS):
            c0, t0 = time.process_time(), time.perf_counter()
            result = await prov.generate(request(1000 + i))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            assert result.video
    finally:
        await prov.aclose()
    walls, cpus = walls[WARMUP:], cpus[WARMUP:]
    return {
        "cpu_ms": 1000 * statistics.mean(cpus),
        "wall_ms": 1000 * statistics.mean(walls),
        "wall_p95_ms": 1000 * statistics.quantiles(walls, n=20)[-1],
        "bytes": len(result.video),
    }


def main(names: list[str]) -> None:
    proc, url = start_server()
    try:
        load = os.getloadavg()[0]
        print(f"{JOBS} jobs per host, 720p 4 s clips, server pre-rendered, load {load:.1f}")
        print(f"{'host':<14} {'client CPU/job':>15} {'wall/job':>10} {'wall p95':>10}")
        for name in names:
            m = asyncio.run(measure(name, url))
            print(
                f"{name:<14} {m['cpu_ms']:>12.1f} ms {m['wall_ms']:>7.1f} ms "
                f"{m['wall_p95_ms']:>7.1f} ms"
            )
    finally:
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    main(sys.argv[1:] or list(HOSTS))
