"""Sweep efficiency, tracking overhead and plan time (issue 5); the client's own figure (issue 9).

    python bench/bench_sweep.py            # everything (about 8 minutes: the serial one is slow)
    python bench/bench_sweep.py --quick    # skip the one-after-another baseline
    python bench/bench_sweep.py --only client        # just the issue 9 figure (about 70 s)
    python bench/bench_sweep.py --only client --profile client.prof   # with cProfile

1. Sweep efficiency = (runs x latency / concurrency) / wall time, for 48 runs against
   `veolab sim serve --latency 5` with concurrency 8 (ideal 30 s; goal >= 0.90), through the
   real `segmind` provider in queue mode, with analysis and MLflow logging included. Against it:
   the same 48 requests made one after another the way Segmind's sample code does (POST /v1,
   write the file), with no analysis and no tracking.
2. Tracking overhead per run: mean time of log_generation (one child run with its artifacts).
3. `plan` time for a 10,000-run grid.
4. The client alone (issue 9): 200 runs of 720p 4 s clips x 10 s latency at concurrency 32
   (ideal 62.5 s; goal >= 0.97; but 200 jobs of 10 s in 32 slots take 7 waves, so no client
   can beat 70 s: `bound_s`, `efficiency_vs_bound`) against `veolab sim serve --prerendered 4`,
   whose clips are rendered once, so the server spends almost no CPU and the wall time is
   veolab's; status polls every 1 s growing to 2 s (`--client-poll 0.1 0.25` for the first
   figures' schedule). Also the client's CPU seconds per generation: CPU time of this process
   (every thread: event loop, HTTP, analysis, MLflow, journal and ledger; the server is another
   process) over the runs.

Each sweep goes through the public `veolab.runner.run_plan`, as `veolab run` does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from veolab.simserver import serve_in_subprocess

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-not-secret"


POLL = (0.1, 0.25)  # first status poll and its cap, seconds: a 5 s job is found done within 0.25 s
# the client figure polls as a user would for 10 s jobs: 1 s, then x1.5 up to 2 s (1, 2.5, 4.5,
# 6.5, 8.5, 10.5 s: 6 status reads a job, found done within 0.5 s of a 10 s job). POLL would
# read ~41 times a job, which made status polls about 16 % of the client's CPU.
CLIENT_POLL = (1.0, 2.0)


def write_experiment(
    d: Path, base_url: str, runs: int, concurrency: int, poll: tuple[float, float] = POLL
) -> Path:
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
                    "poll_interval": poll[0],
                    "poll_max_interval": poll[1],
                },
                "concurrency": concurrency,
                "confirm_above": 1e9,
            }
        )
    )
    return d / "bench.yaml"


def bench_sweep(
    latency: float,
    runs: int,
    concurrency: int,
    *server_options: str,
    poll: tuple[float, float] = POLL,
    profile: str | None = None,
) -> dict:
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan

    load_before = [round(x, 2) for x in os.getloadavg()]
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = serve_in_subprocess("--latency", str(latency), "--api-key", KEY, *server_options)
    with server as url, tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        os.environ.update(
            VEOLAB_HOME=str(d / "home"),
            SEGMIND_API_KEY=KEY,
            MLFLOW_TRACKING_URI=f"sqlite:///{d / 'mlruns' / 'mlflow.db'}",
        )
        plan = plan_experiment(load_experiment(write_experiment(d, url, runs, concurrency, poll)))
        assert len(plan.runs) == runs
        # warm MLflow's database (schema migration happens once per store, not per sweep)
        from veolab.tracking.store import Tracker

        Tracker().experiment_id("warm-up")
        # warm the analysis imports (PyAV, OpenCV) so that their CPU is not counted per run
        import av  # noqa: F401
        import cv2  # noqa: F401

        import veolab.analysis  # noqa: F401

        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = run_plan(plan, RunOptions())
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        user, system = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
        counts = dict(result.counts)
        import httpx

        ledger = httpx.get(f"{url}/_sim/ledger", headers={"x-api-key": KEY}).json()
    # the server, once stopped and waited for, is a child whose CPU (start to stop, with its
    # render workers) shows in RUSAGE_CHILDREN
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)
    ideal = runs * latency / concurrency
    # jobs of equal latency start in waves of `concurrency`: no client can finish sooner
    bound = -(-runs // concurrency) * latency
    jobs = ledger.get("jobs", ledger) if isinstance(ledger, dict) else ledger
    return {
        "runs": runs,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "ideal_s": ideal,
        "efficiency": round(ideal / wall, 3),
        "bound_s": bound,
        "efficiency_vs_bound": round(bound / wall, 3),
        "counts": counts,
        "billed_jobs": len(jobs),
        "server_options": list(server_options),
        "poll_s": list(poll),
        "client_cpu_s": round(user + system, 2),
        "client_cpu_user_s": round(user, 2),
        "client_cpu_system_s": round(system, 2),
        "client_cpu_s_per_run": round((user + system) / runs, 4),
        "server_cpu_s": round(server_cpu, 2),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
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
    from veolab.experiment import load_experiment
    from veolab.runner import plan_experiment

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
        plan = plan_experiment(load_experiment(d / "e.yaml"))
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


def bench_client(
    runs: int,
    latency: float,
    concurrency: int,
    prerendered: int,
    poll: tuple[float, float],
    profile: str | None = None,
) -> dict:
    """The issue 9 figure: the sweep against pre-rendered clips, so only veolab is measured."""
    return bench_sweep(
        latency,
        runs,
        concurrency,
        "--prerendered",
        str(prerendered),
        poll=poll,
        profile=profile,
    )


PARTS = ("plan", "tracking", "sweep", "serial", "client")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the serial baseline")
    ap.add_argument("--only", choices=PARTS, action="append", help="run only these (repeatable)")
    ap.add_argument("--runs", type=int, default=48)
    ap.add_argument("--latency", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--client-runs", type=int, default=200)
    ap.add_argument("--client-latency", type=float, default=10.0)
    ap.add_argument("--client-concurrency", type=int, default=32)
    ap.add_argument("--prerendered", type=int, default=4, help="clips per format (client)")
    ap.add_argument(
        "--client-poll",
        type=float,
        nargs=2,
        default=CLIENT_POLL,
        metavar=("FIRST", "MAX"),
        help="first status poll and its cap, seconds (client; default 1 2, the old 0.1 0.25)",
    )
    ap.add_argument("--profile", help="cProfile the client sweep's run_plan into this file")
    a = ap.parse_args()
    parts = set(a.only or PARTS) - ({"serial"} if a.quick and not a.only else set())
    out: dict = {}
    if "plan" in parts:
        out["plan"] = bench_plan()
    if "tracking" in parts:
        out["tracking"] = bench_tracking()
    if "sweep" in parts:
        out["sweep"] = bench_sweep(a.latency, a.runs, a.concurrency)
    if "serial" in parts:
        out["serial"] = bench_serial(a.latency, a.runs)
        if "sweep" in out:
            out["speedup_vs_serial"] = round(out["serial"]["wall_s"] / out["sweep"]["wall_s"], 2)
    if "client" in parts:
        out["client"] = bench_client(
            a.client_runs,
            a.client_latency,
            a.client_concurrency,
            a.prerendered,
            tuple(a.client_poll),
            a.profile,
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
