"""How long the offline simulator takes to make a clip, on one core.

    python bench/bench_sim.py                 # 8 s 1080p with audio (the target: <= 4 s)
    python bench/bench_sim.py --all --repeat 5

Each case runs in a fresh interpreter pinned to one CPU (os.sched_setaffinity), so x264,
swscale and NumPy cannot borrow a second core. The interpreter imports everything and renders a
small warm-up clip first; then each repetition times ``simulate()`` alone (wall and CPU time).
The best wall time is the figure compared with the budget: on a shared machine the others are
the noise of other processes; CPU time is printed to show that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, sys, time
os.sched_setaffinity(0, {{{cpu}}})
from veolab.providers.sim.provider import simulate
from veolab.request import VideoRequest
simulate(VideoRequest.build(prompt="warm-up", resolution="720p", duration=4, seed=0))
req = VideoRequest.build(**{fields!r})
out = []
for i in range({repeat}):
    w, c = time.perf_counter(), time.process_time()
    data, seed = simulate(req.with_seed(1000 + i))
    out.append({{"wall": time.perf_counter() - w, "cpu": time.process_time() - c,
                 "bytes": len(data)}})
print(json.dumps(out))
"""

PROMPT = "a fast red car chase through a neon city at night, cut to a calm sunny beach"

CASES = {
    "1080p 16:9 8 s, audio": {"resolution": "1080p", "aspect_ratio": "16:9", "duration": 8},
    "1080p 9:16 8 s, audio": {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 8},
    "720p 16:9 8 s, audio": {"resolution": "720p", "aspect_ratio": "16:9", "duration": 8},
    "720p 16:9 4 s, audio": {"resolution": "720p", "aspect_ratio": "16:9", "duration": 4},
    "720p 16:9 4 s, no audio": {
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "duration": 4,
        "generate_audio": False,
    },
}
TARGET = "1080p 16:9 8 s, audio"


def run_case(fields: dict[str, object], repeat: int, cpu: int) -> list[dict[str, float]]:
    code = CHILD.format(cpu=cpu, fields={"prompt": PROMPT, **fields}, repeat=repeat)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="also the other sizes")
    ap.add_argument("--budget", type=float, default=4.0, help="seconds for the target case")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="core to pin")
    args = ap.parse_args()

    names = list(CASES) if args.all else [TARGET]
    print(
        f"simulator on one core (cpu {args.cpu}), {args.repeat} runs each; load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"{'case':28s} {'best s':>7s} {'median s':>9s} {'cpu s':>6s} {'MB':>6s}")
    best_target = None
    for name in names:
        runs = run_case(CASES[name], args.repeat, args.cpu)
        best = min(r["wall"] for r in runs)
        med = statistics.median(r["wall"] for r in runs)
        cpu = min(r["cpu"] for r in runs)
        mb = statistics.mean(r["bytes"] for r in runs) / 1e6
        print(f"{name:28s} {best:7.2f} {med:9.2f} {cpu:6.2f} {mb:6.2f}")
        if name == TARGET:
            best_target = best
    assert best_target is not None
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) - 0.5:
        print(
            f"note: load average {load:.1f}: other processes share the pinned core, so wall "
            "times include waiting for it; 'cpu s' is the simulator's own work"
        )
    ok = best_target <= args.budget
    print(
        f"target: {TARGET} in <= {args.budget:.1f} s on one core: "
        f"{'OK' if ok else 'OVER'} ({best_target:.2f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
