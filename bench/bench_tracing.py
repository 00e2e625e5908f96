"""What MLflow tracing and the Prompt Registry cost a sweep, per generation (issue 13).

    python bench/bench_tracing.py              # 2 to 4 minutes
    python bench/bench_tracing.py --runs 60    # a longer sweep

One process, one local SQLite MLflow store, the simulator (720p, 4 s, no audio). The same
experiment shape runs twice per round under two names, once with ``VEOLAB_TRACING=0`` and once
with tracing on (the order alternates between rounds). In the traced sweep the time spent
inside veolab's tracing calls is measured where it is spent, on the logging thread:

- ``log_trace`` (the trace and its spans built in memory and queued, on the logging thread),
- ``store`` (the writer thread storing them: ``start_trace``, one ``log_spans`` for every trace
  waiting, the run's tag, the prompt link; in the background, while the sweep goes on),
- the final ``flush`` (waiting for that writer once, at the end of the sweep),
- ``link_run`` (the Prompt Registry link and the ``veolab.prompt`` tag; done with tracing off too),
- ``register_templates`` (once per sweep).

Figures: milliseconds per generation for each, and the whole sweep's wall time with and without
tracing (median over rounds; the difference is noisy on a shared machine, the in-place times are
not). Target: tracing <= 20 ms per generation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """\
name: {name}
template: scene.j2
vars:
  subject: a red fox
  lighting: [bright sunny morning, dark moonlit night]
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: [{seeds}]
provider: {{name: sim, latency: {latency}}}
concurrency: 4
"""


class Clock:
    """Seconds spent inside wrapped functions, by name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner: object, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t
                self.calls[name] = self.calls.get(name, 0) + 1

        setattr(owner, attr, timed)


def sweep(root: Path, name: str, seeds: int, traced: bool, latency: float = 0.0) -> float:
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan

    path = root / f"{name}.yaml"
    seed_list = ", ".join(map(str, range(1, seeds + 1)))
    path.write_text(EXPERIMENT.format(name=name, seeds=seed_list, latency=latency))
    os.environ["VEOLAB_TRACING"] = "1" if traced else "0"
    t = time.perf_counter()
    result = run_plan(plan_experiment(load_experiment(path)), RunOptions())
    took = time.perf_counter() - t
    assert result.counts.get("failed", 0) == 0 and not result.warnings, result
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="generations per sweep (2 variants)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="the simulator's seconds per generation (0: as fast as it renders; a real host "
        "takes about 60)",
    )
    a = ap.parse_args()
    seeds = max(1, a.runs // 2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        os.environ["VEOLAB_HOME"] = str(root / "home")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        (root / "prompts").mkdir()
        (root / "prompts" / "scene.j2").write_text("{{ subject }} on a beach, {{ lighting }}\n")

        import veolab.runner.sweep as sweep_mod
        from veolab.tracking import traces

        clock = Clock()
        clock.wrap(traces, "log_trace", "log_trace")
        clock.wrap(traces, "flush", "flush")
        clock.wrap(traces._Writer, "_write", "store")
        clock.wrap(sweep_mod, "link_run", "link_run")
        clock.wrap(sweep_mod, "register_templates", "register_templates")

        sweep(root, "warm-up", 2, True)  # imports, the store, MLflow's tracer: once a process
        clock.spent.clear()
        clock.calls.clear()
        walls: dict[str, list[float]] = {"off": [], "on": []}
        for r in range(a.rounds):
            order = ["off", "on"] if r % 2 == 0 else ["on", "off"]
            for mode in order:
                walls[mode].append(sweep(root, f"bench-{mode}-{r}", seeds, mode == "on", a.latency))
    generations = 2 * seeds * a.rounds  # traced generations over all rounds
    per_gen = {
        k: round(1000 * v / generations, 2)
        for k, v in clock.spent.items()
        if k in ("log_trace", "flush", "store")
    }
    per_gen["link_run"] = round(1000 * clock.spent.get("link_run", 0.0) / (2 * generations), 2)
    per_gen["register_templates_per_sweep"] = round(
        1000 * clock.spent.get("register_templates", 0.0) / (2 * a.rounds), 2
    )
    on, off = statistics.median(walls["on"]), statistics.median(walls["off"])
    out = {
        "generations_per_sweep": 2 * seeds,
        "rounds": a.rounds,
        "sim_latency_s": a.latency,
        "ms_per_generation": per_gen,
        # what the sweep waits for: building on the logging thread, and the final wait
        "tracing_ms_per_generation": round(per_gen["log_trace"] + per_gen.get("flush", 0.0), 2),
        # what the store does per trace, in the background
        "stored_ms_per_generation": per_gen.get("store", 0.0),
        "sweep_wall_s": {"tracing_off": round(off, 2), "tracing_on": round(on, 2)},
        "wall_difference_ms_per_generation": round(1000 * (on - off) / (2 * seeds), 1),
        "calls": clock.calls,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
