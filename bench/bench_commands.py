"""Commands a person waits for, on a 200-run store, as whole processes (issue 11).

    python bench/bench_commands.py              # 3 to 7 minutes, most of it making the store
    python bench/bench_commands.py --rounds 7   # more rounds for a noisy machine
    python bench/bench_commands.py --project /tmp/bc   # keep the store there (made if absent)
    PYTHONPATH=/tmp/old python bench/bench_commands.py --project /tmp/bc   # another veolab

``--project`` makes the store once and times against it again later: the same store for a
before/after pair (the commands run with this environment, so ``PYTHONPATH`` picks the veolab
they import; ``veolab rate`` adds one rating a round, nothing else changes the store).

The store is real: a sim experiment of 4 variants x 50 seeds (720p, 4 s, no audio) run once
with ``run_plan`` into a local SQLite MLflow store, so every run has what a real sweep logs
(params, tags, metrics, artifacts). Then each command runs as a fresh process, from the project
folder, ``--rounds`` times, alternating with ``python -c "import mlflow"`` (the floor any command
that opens MLflow in-process pays) and ``veolab --help`` (the CLI's own start):

- ``veolab plan EXP`` (status of 200 runs against the store and the ledger),
- ``veolab runs EXP`` (the 200 runs listed),
- ``veolab compare EXP`` (4 groups, every default metric, the A/B table),
- ``veolab rate RUN 4`` (one write),
- ``veolab compare nope`` from an empty folder (the "no store" answer; it creates nothing).

Figures: median and minimum seconds, and each median over ``import mlflow``'s median. Target:
<= 2 s for plan, runs, compare and rate on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """\
name: bench-cmd
template: scene.j2
vars:
  subject: a red fox
  lighting: [bright sunny morning, dark moonlit night]
  pace: [calm and still, fast and running]
params: {resolution: 720p, duration: 4, generate_audio: false}
seeds: [%s]
provider: {name: sim}
concurrency: 4
"""


def make_store(root: Path, seeds: int) -> tuple[str, float]:
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan

    (root / "prompts").mkdir()
    (root / "prompts" / "scene.j2").write_text(
        "{{ subject }} on a beach, {{ lighting }}, {{ pace }}\n"
    )
    (root / "experiments").mkdir()
    path = root / "experiments" / "bench-cmd.yaml"
    path.write_text(EXPERIMENT % ", ".join(str(s) for s in range(1, seeds + 1)))
    t = time.perf_counter()
    result = run_plan(plan_experiment(load_experiment(path)), RunOptions())
    assert result.counts.get("failed", 0) == 0, result.counts
    return result.parent_run_id, time.perf_counter() - t


def first_generation(uri: str) -> str:
    from veolab.tracking.store import Tracker

    tracker = Tracker(uri)
    exp = tracker.experiment_id("bench-cmd", create=False)
    runs = tracker.search(exp, "tags.`veolab.kind` = 'generation'")
    return runs[0].info.run_id


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - t
    if r.returncode not in (0, 1, 2):
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=50, help="seeds per variant (4 variants)")
    ap.add_argument("--project", type=Path, help="the project folder to make or reuse")
    a = ap.parse_args()
    py = sys.executable
    veolab = [py, "-m", "veolab"]
    with tempfile.TemporaryDirectory() as tmp:
        root = a.project.resolve() if a.project else Path(tmp) / "project"
        root.mkdir(parents=True, exist_ok=True)
        empty = Path(tmp) / "empty"
        empty.mkdir()
        home = root.parent / f"{root.name}-home" if a.project else Path(tmp) / "home"
        env = {**os.environ, "VEOLAB_HOME": str(home), "COLUMNS": "100"}
        env.pop("MLFLOW_TRACKING_URI", None)
        os.environ.update({"VEOLAB_HOME": env["VEOLAB_HOME"]})
        made_s = None
        if not (root / "mlruns" / "mlflow.db").is_file():
            cwd = os.getcwd()
            os.chdir(root)
            try:
                _, made_s = make_store(root, a.seeds)
            finally:
                os.chdir(cwd)
        uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
        rid = first_generation(uri)
        commands = {
            "import mlflow": [py, "-c", "import mlflow"],
            "veolab --help": [*veolab, "--help"],
            "veolab plan": [*veolab, "plan", "experiments/bench-cmd.yaml"],
            "veolab runs": [*veolab, "runs", "bench-cmd"],
            "veolab compare": [*veolab, "compare", "bench-cmd"],
            "veolab rate": [*veolab, "rate", rid, "4"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        times["veolab compare (no store)"] = []
        for cmd in commands.values():  # warm .pyc files and the page cache
            timed(cmd, root, env)
        for _ in range(a.rounds):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, root, env))
            times["veolab compare (no store)"].append(
                timed([*veolab, "compare", "bench-cmd"], empty, env)
            )
        created = sorted(p.name for p in empty.iterdir())
    floor = statistics.median(times["import mlflow"])
    out = {
        "runs_in_store": 4 * a.seeds,
        "store_made_in_s": None if made_s is None else round(made_s, 1),
        "rounds": a.rounds,
        "commands": {
            name: {
                "median_s": round(statistics.median(v), 2),
                "min_s": round(min(v), 2),
                "x_import_mlflow": round(statistics.median(v) / floor, 2),
            }
            for name, v in times.items()
        },
        "files_left_in_an_empty_folder": created,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
