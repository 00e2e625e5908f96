"""Team scale (issue 15): the PostgreSQL ledger under 8 worker processes, and ``veolab plan`` of a
100,000-run grid against it.

    python bench/bench_team.py                  # about 2 minutes: a throwaway durable cluster
    python bench/bench_team.py --rounds 3       # more rounds for a noisy machine

1. Claims. 8 processes, each with its own ``Ledger`` (engine, connection pool), as 8 workers
   of one sweep: ``contended``, each claims from the same 4,000 keys in its own random order,
   so each key is won by one process and refused (Busy) to the 7 others; ``disjoint``, each
   claims 1,000 keys of its own. Figures: claims won per second (keys / wall time of the
   slowest process) and claim attempts per second. The cluster is durable (fsync and
   synchronous_commit on), as a team runs it; the same on the SQLite ledger for comparison.
2. Plan. ``veolab plan FILE --max-runs 100000 --json`` of a 100,000-run grid (100 x 100 vars x
   10 seeds), a whole process, against a PostgreSQL ledger that holds an entry for every run
   (the worst case: a grid half-way through), no MLflow store; and in this process the status
   lookup alone (``plan_status``) with the SQL statements it sends, counted.

The cluster and the worker processes are the tests' (tests/postgres.py,
tests/team/ledger_worker.py).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from postgres import postgres_cluster  # noqa: E402

WORKER = ROOT / "tests" / "team" / "ledger_worker.py"
PROCESSES = 8

GRID = """\
name: grid100k
template: g.j2
vars:
  a: {a}
  b: {b}
params: {{resolution: 720p, duration: 4}}
seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
provider: {{name: segmind}}
"""


def claim_round(url: str, keysets: list[list[str]], folder: Path) -> dict[str, float]:
    """One round: a process per key set, started together; claims won and attempts per second."""
    folder.mkdir(parents=True)
    outs = [folder / f"w{i}.json" for i in range(len(keysets))]
    procs = []
    for i, (keys, out) in enumerate(zip(keysets, outs, strict=True)):
        (folder / f"keys{i}").write_text("\n".join(keys))
        cmd = [
            sys.executable,
            str(WORKER),
            "claim",
            url,
            str(out),
            str(folder / f"keys{i}"),
            str(i),
        ]
        procs.append(subprocess.Popen(cmd))
    try:
        while not all(out.with_suffix(".ready").exists() for out in outs):
            time.sleep(0.05)
        (folder / "go").touch()
        while not all(out.exists() for out in outs):
            if any(p.poll() not in (None, 0) for p in procs):
                raise RuntimeError("a claim worker failed")
            time.sleep(0.05)
    finally:
        (folder / "end").touch()
        for p in procs:
            p.wait(timeout=60)
    got = [json.loads(out.read_text()) for out in outs]
    won = sum(len(g["claimed"]) for g in got)
    attempts = won + sum(g["busy"] for g in got)
    wall = max(g["wall"] for g in got)
    distinct = len({k for g in got for k in g["claimed"]})
    assert distinct == won, "a key was claimed twice"
    return {
        "won": won,
        "attempts": attempts,
        "wall_s": wall,
        "claims_per_s": won / wall,
        "attempts_per_s": attempts / wall,
    }


def claims(url: str, rounds: int, tmp: Path, name: str) -> dict[str, dict[str, float]]:
    from veolab.runner.ledger import Ledger

    Ledger(url).close()  # migrated before the clock starts
    out: dict[str, dict[str, float]] = {}
    for mode in ("contended", "disjoint"):
        results = []
        for r in range(rounds):
            tag = f"{name}-{mode}-{r}"
            if mode == "contended":
                keys = [f"bench/{tag}/{i:05d}" for i in range(4000)]
                keysets = [keys] * PROCESSES
            else:
                keysets = [
                    [f"bench/{tag}/{p}/{i:04d}" for i in range(1000)] for p in range(PROCESSES)
                ]
            results.append(claim_round(url, keysets, tmp / tag))
        best = max(results, key=lambda x: x["claims_per_s"])
        out[mode] = {
            "claims_per_s_median": statistics.median(x["claims_per_s"] for x in results),
            "attempts_per_s_median": statistics.median(x["attempts_per_s"] for x in results),
            "claims_per_s_best": best["claims_per_s"],
            "won": best["won"],
            "attempts": best["attempts"],
            "rounds": rounds,
        }
        print(name, mode, json.dumps(out[mode]), flush=True)
    return out


def grid(tmp: Path) -> Path:
    (tmp / "prompts").mkdir(parents=True, exist_ok=True)
    (tmp / "prompts" / "g.j2").write_text("{{ a }} meets {{ b }}")
    path = tmp / "grid100k.yaml"
    a = json.dumps([f"a{i}" for i in range(100)])
    b = json.dumps([f"b{i}" for i in range(100)])
    path.write_text(GRID.format(a=a, b=b))
    return path


def plan(url: str, tmp: Path, rounds: int) -> dict[str, float]:
    import sqlalchemy as sa

    from veolab.cli.planning import load_plan, plan_status_of
    from veolab.runner.ledger import Ledger
    from veolab.runner.ledger_db import claims as claims_table
    from veolab.runner.status import run_key

    path = grid(tmp)
    t = time.perf_counter()
    p = load_plan(path, None, 100_000)
    build = time.perf_counter() - t
    assert len(p.runs) == 100_000
    keys = [run_key(p.provider, p.model, r.request_hash) for r in p.runs]
    ledger = Ledger(url)
    now = time.time()
    rows = [
        {
            "key": k,
            "experiment": "grid100k",
            "state": "logged" if i % 2 else "submitted",
            "job_id": f"job-{i}",
            "created": now,
            "updated": now,
        }
        for i, k in enumerate(keys)
    ]
    with ledger.engine.begin() as c:
        for i in range(0, len(rows), 5000):
            c.execute(claims_table.insert(), rows[i : i + 5000])
    ledger.close()

    env = {
        **os.environ,
        "VEOLAB_LEDGER_URI": url,
        "VEOLAB_HOME": str(tmp / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'none' / 'mlflow.db'}",
    }
    cmd = [sys.executable, "-m", "veolab", "plan", str(path), "--max-runs", "100000", "--json"]
    walls = []
    for _ in range(rounds):
        t = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert done.returncode == 0, done.stderr
    totals = json.loads(done.stdout)["totals"]

    statements = []
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    old = os.environ.get("VEOLAB_LEDGER_URI")
    os.environ["VEOLAB_LEDGER_URI"] = url
    try:
        t = time.perf_counter()
        status = plan_status_of(p, None, False)
        lookup = time.perf_counter() - t
    finally:
        if old is None:
            os.environ.pop("VEOLAB_LEDGER_URI")
        else:
            os.environ["VEOLAB_LEDGER_URI"] = old
    on_claims = [s for s in statements if "FROM claims" in s]
    out = {
        "runs": len(p.runs),
        "build_plan_s": build,
        "veolab_plan_whole_process_s_median": statistics.median(walls),
        "veolab_plan_whole_process_s_min": min(walls),
        "status_lookup_s": lookup,
        "statements_total": len(statements),
        "statements_on_claims": len(on_claims),
        "resume": status.count("resume"),
        "new": status.count("new"),
        "totals": totals,
    }
    print("plan", json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "team.json")
    args = ap.parse_args()
    result: dict[str, object] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="veolab-bench-team-") as tmp:
        root = Path(tmp)
        with postgres_cluster(durable=True) as pg:
            result["postgresql"] = claims(pg.create_database("claims"), args.rounds, root, "pg")
            result["plan"] = plan(pg.create_database("plan"), root / "plan", args.rounds)
        result["sqlite"] = claims(f"sqlite:///{root / 'ledger.db'}", args.rounds, root, "sqlite")
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
