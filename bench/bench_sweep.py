"""Sweep efficiency, tracking overhead and plan time (issue 5).

    python bench/bench_sweep.py            # all three (about 6 minutes: the serial one is slow)
    python bench/bench_sweep.py --quick    # skip the one-after-another baseline

1. Sweep efficiency = (runs x latency / concurrency) / wall time, for 48 runs against
   `veolab sim serve --latency 5` with concurrency 8 (ideal 30 s; goal >= 0.90), through the
   real `segmind` provider in queue mode, with analysis and MLflow logging included. Against it:
   the same 48 requests made one after another the way Segmind's sample code does (POST /v1,
   write the file), with no analysis and no tracking.
2. Tracking overhead per run: mean time of log_generation (one child run with its artifacts).
3. `plan` time for a 10,000-run grid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from veolab.providers.sim.server import serve_in_subprocess

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-not-secret"


POLL = (0.1, 0.25)  # first status poll and its cap, seconds: a 5 s job is found done within 0.25 s


def write_experiment(d: Path, base_url: str, runs: int, concurrency: int) -> Path:
    (d / "prompts").mkdir(parents=True, exist_ok=True)
    (d / "prompts" / "b.j2").write_text("{{ subject }} on a {{ colour }} stage, {{ light }}")
    seeds = list(range(1, runs // 4 + 1))
    (d / "bench.yaml").write_text(
        json.dumps(
            {
                "name": "bench-sweep",
                "template": "b.j2",
                "vars": {
                    "subject": "a speaker",
                    "colour": ["red", "blue"],
                    "light": ["bright", "dim"],
                },
                "params": {"resolution": "720p", "duration": 4, "generate_audio": True},
                "seeds": seeds,
                "provider": {
                    "name": "segmind",
                    "mode": "queue",
                    "base_url": base_url,
                    "poll_interval": POLL[0],
                    "poll_max_interval": POLL[1],
                },
                "concurrency": concurrency,
                "confirm_above": 1e9,
            }
        )
    )
    return d / "bench.yaml"


def bench_sweep(latency: float, runs: int, concurrency: int) -> dict:
    from veolab.experiment import build_plan, load_experiment
    from veolab.runner import RunOptions, run_plan

    server = serve_in_subprocess("--latency", str(latency), "--api-key", KEY)
    with server as url, tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        os.environ.update(
            VEOLAB_HOME=str(d / "home"),
            SEGMIND_API_KEY=KEY,
            MLFLOW_TRACKING_URI=f"sqlite:///{d / 'mlruns' / 'mlflow.db'}",
        )
        plan = build_plan(load_experiment(write_experiment(d, url, runs, concurrency)))
        assert len(plan.runs) == runs
        # warm MLflow's database (schema migration happens once per store, not per sweep)
        from veolab.tracking.store import Tracker

        Tracker().experiment_id("warm-up")
        t0 = time.perf_counter()
        result = run_plan(plan, RunOptions())
        wall = time.perf_counter() - t0
        counts = dict(result.counts)
        import httpx

        ledger = httpx.get(f"{url}/_sim/ledger", headers={"x-api-key": KEY}).json()
    ideal = runs * latency / concurrency
    jobs = ledger.get("jobs", ledger) if isinstance(ledger, dict) else ledger
    return {
        "runs": runs,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "ideal_s": ideal,
        "efficiency": round(ideal / wall, 3),
        "counts": counts,
        "billed_jobs": len(jobs),
    }


def bench_serial(latency: float, runs: int) -> dict:
    """The seed's way: one POST /v1 after another, write each MP4; nothing else."""
    import requests

    server = serve_in_subprocess("--latency", str(latency), "--api-key", KEY)
    with server as url, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i in range(runs):
            colour = ["red", "blue"][i % 2]
            light = ["bright", "dim"][(i // 2) % 2]
            data = {
                "prompt": f"a speaker on a {colour} stage, {light}",
                "resolution": "720p",
                "duration": 4,
                "generate_audio": True,
                "aspect_ratio": "16:9",
                "seed": i // 4 + 1,
            }
            r = requests.post(
                f"{url}/v1/veo-3.1", json=data, headers={"x-api-key": KEY}, timeout=120
            )
            r.raise_for_status()
            Path(tmp, f"{i}.mp4").write_bytes(r.content)
        wall = time.perf_counter() - t0
    return {"runs": runs, "wall_s": round(wall, 2), "per_run_s": round(wall / runs, 2)}


def bench_tracking(n: int = 20) -> dict:
    from veolab.analysis import Expectations, analyze_video
    from veolab.providers.sim.provider import simulate
    from veolab.request import VideoRequest
    from veolab.tracking import GenerationRecord, Tracker, log_generation

    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        exp_id = tracker.experiment_id("bench-tracking")
        req = VideoRequest(prompt="a calm blue sea", resolution="720p", duration=4, seed=1)
        video, _ = simulate(req)
        analysis = analyze_video(video, expectations=Expectations.from_request(req))
        log_generation(
            tracker, exp_id, None, GenerationRecord(req, "sim", "veo-3.1"), video, analysis, None
        )
        times = []
        for i in range(n):
            r = req.with_seed(100 + i)
            t0 = time.perf_counter()
            log_generation(
                tracker, exp_id, None, GenerationRecord(r, "sim", "veo-3.1"), video, analysis, None
            )
            times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "runs": n,
        "mean_ms": round(1000 * sum(times) / n, 1),
        "median_ms": round(1000 * times[n // 2], 1),
        "video_bytes": len(video),
    }


def bench_plan() -> dict:
    from veolab.experiment import build_plan, load_experiment

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "prompts").mkdir()
        (d / "prompts" / "t.j2").write_text("{{ a }} and {{ b }}")
        (d / "e.yaml").write_text(
            json.dumps(
                {
                    "name": "big",
                    "template": "t.j2",
                    "vars": {"a": [f"a{i}" for i in range(10)], "b": [f"b{i}" for i in range(10)]},
                    "params": {"resolution": "720p", "duration": [4, 6]},
                    "repeats": 50,
                }
            )
        )
        t0 = time.perf_counter()
        plan = build_plan(load_experiment(d / "e.yaml"))
        t_plan = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "veolab", "plan", str(d / "e.yaml"), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{d}/none/mlflow.db"},
        )
        t_cli = time.perf_counter() - t0
        assert out.returncode == 0, out.stderr
    return {
        "runs": len(plan.runs),
        "build_plan_s": round(t_plan, 2),
        "cli_plan_json_s": round(t_cli, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the serial baseline")
    ap.add_argument("--runs", type=int, default=48)
    ap.add_argument("--latency", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args()
    out = {
        "plan": bench_plan(),
        "tracking": bench_tracking(),
        "sweep": bench_sweep(a.latency, a.runs, a.concurrency),
    }
    if not a.quick:
        out["serial"] = bench_serial(a.latency, a.runs)
        out["speedup_vs_serial"] = round(out["serial"]["wall_s"] / out["sweep"]["wall_s"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
