"""What logging one generation to MLflow costs (issue 13): ``log_generation`` as a sweep calls it.

    python bench/bench_logging.py                  # 20 runs after a warm-up, on this checkout
    PYTHONPATH=/tmp/old python bench/bench_logging.py   # the same on another one, to compare
    git archive <commit> veolab | tar -x -C /tmp/old      # (how to make that other one)

One real simulator clip (720p, 4 s, with audio) is analysed once; each run then logs it as a new
child run into a local SQLite store under a temporary folder: params, tags, metrics, artifacts,
and, where the checkout has them, the stills as MLflow images and the sweep's plan as the run's
input dataset (48 rows). Prints one JSON line: mean, median and minimum milliseconds per run.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
import time

import veolab
from veolab.analysis import Expectations, analyze_video
from veolab.providers.sim.provider import simulate
from veolab.request import VideoRequest
from veolab.tracking import GenerationRecord, Tracker, log_generation


def main(n: int = 20) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        exp_id = tracker.experiment_id("bench-logging")
        assert exp_id is not None
        req = VideoRequest(prompt="a calm blue sea", resolution="720p", duration=4, seed=1)
        video, _ = simulate(req)
        analysis = analyze_video(video, expectations=Expectations.from_request(req))
        kw = {}
        if "inputs" in inspect.signature(log_generation).parameters:  # issue 13 on
            from veolab.tracking.tables import log_plan, plan_row

            rows = [
                plan_row(
                    i,
                    variant="v",
                    label="l",
                    name=None,
                    vars={"a": i},
                    seed=i,
                    request_hash="h" * 64,
                    prompt="p",
                    template="t",
                    estimated_cost=0.0,
                )
                for i in range(48)
            ]
            parent = tracker.create_run(exp_id, "sweep", {})
            kw["inputs"] = log_plan(tracker, parent, rows, name="bench plan", source=None)

        def one(seed: int) -> None:
            record = GenerationRecord(req.with_seed(seed), "sim", "veo-3.1")
            log_generation(tracker, exp_id, None, record, video, analysis, None, **kw)

        one(0)  # warm-up: imports, the store's first writes
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            one(100 + i)
            times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "veolab": veolab.__file__,
        "runs": n,
        "mean_ms": round(1000 * sum(times) / n, 1),
        "median_ms": round(1000 * times[n // 2], 1),
        "min_ms": round(1000 * times[0], 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
