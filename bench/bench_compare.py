"""Figures for `veolab compare`, `veolab report` and `veolab rerun` (issue 6).

    python bench/bench_compare.py            # about a minute on 2 cores

- compare: load N generation runs from a local SQLite MLflow store and compare them (the runs are
  logged with a stub analysis, so only MLflow and the statistics are measured);
- reproducibility: decode and compare a pair of simulator clips (identical / another seed) at
  720p 4 s and 1080p 8 s;
- report: write the report of a real 2 x 3 simulator sweep (media copied out of MLflow).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


class _Stub:
    passed = True
    checks: list = []
    thumbnails: list = []

    def __init__(self, m):
        self.m = m

    def numeric_metrics(self):
        return self.m

    def write_images(self, folder):
        return []

    def to_dict(self):
        return {}


def bench_compare(root: Path, n_variants: int = 4, n_seeds: int = 50) -> dict:
    import random

    from veolab.compare import compare_runs, load_runs
    from veolab.request import VideoRequest
    from veolab.tracking.generation import GenerationRecord, log_generation
    from veolab.tracking.store import Tracker

    tracker = Tracker(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    exp = tracker.experiment_id("bench-compare")
    parent = tracker.create_run(exp, "sweep", {"veolab.kind": "sweep"})
    rng = random.Random(0)
    t0 = time.perf_counter()
    for v in range(n_variants):
        for s in range(n_seeds):
            req = VideoRequest(prompt=f"variant {v}", resolution="720p", duration=4, seed=s)
            rec = GenerationRecord(
                req, "sim", "veo-3.1", variant_id=f"v{v}", variant_label=f"v={v}"
            )
            metrics = {
                "motion": rng.gauss(v, 1),
                "sharpness": rng.gauss(5, 1),
                "colorfulness": 30.0,
            }
            log_generation(tracker, exp, parent, rec, b"x", _Stub(metrics), None)
    log_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = compare_runs(load_runs("bench-compare", tracker=tracker))
        times.append(time.perf_counter() - t)
    return {
        "runs": n_variants * n_seeds,
        "log_s": log_s,
        "compare_s": statistics.median(times),
        "groups": len(result.groups),
        "ab": len(result.ab),
    }


def bench_repro() -> list[tuple[str, float, float, float]]:
    from veolab.analysis.repro import reproducibility
    from veolab.providers.sim.provider import simulate
    from veolab.request import VideoRequest

    rows = []
    for res, dur in (("720p", 4), ("1080p", 8)):
        req = VideoRequest(
            prompt="a red fox on a beach, bright sunny light", resolution=res, duration=dur, seed=1
        )
        a, _ = simulate(req)
        b, _ = simulate(req.with_seed(2))
        same = []
        other = []
        for _ in range(3):
            t = time.perf_counter()
            reproducibility(a, a)
            same.append(time.perf_counter() - t)
            t = time.perf_counter()
            score = reproducibility(a, b).repro_score
            other.append(time.perf_counter() - t)
        rows.append((f"{res} {dur} s", statistics.median(same), statistics.median(other), score))
    return rows


def bench_report(root: Path) -> dict:
    from veolab.compare import load_runs
    from veolab.experiment import load_experiment
    from veolab.report import write_report
    from veolab.runner import RunOptions, plan_experiment, run_plan
    from veolab.tracking.store import Tracker

    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "s.j2").write_text("a red fox on a shoreline, {{ lighting }}\n")
    (root / "e.yaml").write_text(
        "name: bench-report\ntemplate: s.j2\nvars: {lighting: [sunny, night]}\n"
        "params: {resolution: 720p, duration: 4}\nseeds: [1, 2, 3]\nprovider: {name: sim}\n"
    )
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    os.environ["VEOLAB_HOME"] = str(root / "home")
    run_plan(plan_experiment(load_experiment(root / "e.yaml")), RunOptions(tracking_uri=uri))
    tracker = Tracker(uri)
    t = time.perf_counter()
    info = write_report(
        load_runs("bench-report", tracker=tracker), root / "out" / "r.html", tracker=tracker
    )
    wall = time.perf_counter() - t
    size = sum(p.stat().st_size for p in info.files_dir.rglob("*") if p.is_file())
    return {"wall_s": wall, "videos": info.videos, "images": info.images, "mb": size / 1e6}


def main() -> int:
    print(f"load average at start: {os.getloadavg()[0]:.1f}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        c = bench_compare(Path(tmp) / "c")
        print(
            f"compare: {c['runs']} runs in {c['groups']} groups ({c['ab']} A/B rows): "
            f"load + compare {c['compare_s']:.2f} s (median of 3); logging them took "
            f"{c['log_s']:.1f} s"
        )
        for name, same, other, score in bench_repro():
            print(
                f"reproducibility {name}: identical {same:.2f} s, another seed {other:.2f} s "
                f"(repro_score {score:.3f})"
            )
        r = bench_report(Path(tmp) / "r")
        print(
            f"report of 6 runs: {r['wall_s']:.2f} s, {r['videos']} videos, {r['images']} "
            f"images, {r['mb']:.1f} MB of media"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
