"""The ledger under real concurrent processes, on SQLite and PostgreSQL: every key is claimed by
exactly one of them, and an experiment's budget holds however many of them pay at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from veolab.runner.ledger import Ledger
from veolab.runner.ledger_db import payments, sweep_workers
from veolab.runner.team import TeamSweep

WORKER = Path(__file__).with_name("ledger_worker.py")


def _url(db: str, request, tmp_path: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


def _run_together(tmp_path: Path, args: list[list[str]]) -> list[dict]:
    """Start one worker per argument list; let them go at once; their JSON answers (then they
    may end)."""
    outs = [tmp_path / f"w{i}.json" for i in range(len(args))]
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), a[0], a[1], str(out), *a[2:]])
        for a, out in zip(args, outs, strict=True)
    ]
    try:
        deadline = time.monotonic() + 300
        while not all(out.with_suffix(".ready").exists() for out in outs):
            assert all(p.poll() is None for p in procs), "a worker failed"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        while not all(out.exists() for out in outs):
            assert all(p.poll() in (None, 0) for p in procs), "a worker failed"
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(0.1)
        got = [json.loads(out.read_text()) for out in outs]
    finally:
        (tmp_path / "end").touch()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * len(procs)
    return got


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_every_key_is_claimed_by_exactly_one_process(db: str, request, tmp_path: Path) -> None:
    url = _url(db, request, tmp_path)
    Ledger(url).close()  # migrated before the race: the race is the claims'
    keys = [f"sim/veo-3.1/{i:04x}" for i in range(400)]
    (tmp_path / "keys").write_text("\n".join(keys))
    got = _run_together(
        tmp_path, [["claim", url, str(tmp_path / "keys"), str(seed)] for seed in range(6)]
    )
    claimed = [k for g in got for k in g["claimed"]]
    assert sorted(claimed) == sorted(keys)  # each key once, none lost
    assert sum(g["busy"] for g in got) == 5 * len(keys)
    assert sum(1 for g in got if g["claimed"]) > 1  # they raced: more than one won keys


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_an_experiments_budget_holds_across_processes(db: str, request, tmp_path: Path) -> None:
    url = _url(db, request, tmp_path)
    Ledger(url).close()
    got = _run_together(tmp_path, [["pay", url, "shared", "20", "10"] for _ in range(8)])
    paid = [k for g in got for k in g["paid"]]
    assert len(paid) == 20  # 8 processes x 10 tries of $1 against $20: exactly 20 reserved
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            total = c.execute(
                sa.select(sa.func.sum(payments.c.estimate)).where(payments.c.experiment == "shared")
            ).scalar_one()
    finally:
        engine.dispose()
    assert total == 20.0


def test_the_last_worker_says_whom_it_waits_for_then_closes_the_run(clean_env: Path) -> None:
    """A colleague on another machine that stopped renewing: waited for until its lease runs
    out (said once), then this worker is the last one out and closes the sweep run."""
    ledger = Ledger(f"sqlite:///{clean_env / 'ledger.db'}")
    try:
        team = TeamSweep(ledger, "k" * 40, "waits")
        joined = team.join(lambda: "run-1")
        team.opened()
        with ledger.engine.begin() as c:
            c.execute(
                sweep_workers.insert().values(
                    run_id=joined.run_id,
                    owner="elsewhere:4242:1",
                    sweep_key=team.key,
                    lease_until=time.time() + 1.0,
                    joined=time.time(),
                    generated=0,
                    relogged=0,
                    failed=0,
                    check_failed=0,
                    skipped=0,
                    spend=0.0,
                )
            )
        said: list[list[str]] = []
        assert team.leave(wait=True, on_wait=said.append) is True
        assert said == [["elsewhere:4242:1"]]
    finally:
        ledger.close()


def test_the_wait_is_said_in_a_persons_words() -> None:
    from types import SimpleNamespace

    from veolab.runner.sweep import Sweep

    said: list[str] = []
    sweep = SimpleNamespace(on_note=said.append, ledger=SimpleNamespace(lease=90.0))
    Sweep._waiting(sweep, ["build-2:4242:171"])  # type: ignore[arg-type]
    Sweep._waiting(sweep, ["a:1:1", "b:2:2", "c:3:3", "d:4:4"])  # type: ignore[arg-type]
    assert said == [
        "every run is done; waiting for 1 other worker of the sweep (build-2 pid 4242) to "
        "finish, or for its lease to run out (at most 90 s), to close the sweep run; "
        "--no-wait leaves it to them",
        "every run is done; waiting for 4 other workers of the sweep (a pid 1, b pid 2, "
        "c pid 3, ...) to finish, or for their leases to run out (at most 90 s), to close the "
        "sweep run; --no-wait leaves it to them",
    ]


def test_the_closing_worker_counts_each_undone_run_once(clean_env: Path) -> None:
    """runs_skipped of a team's sweep: the runs nobody ended, from the ledger, not the closing
    worker's own skips (a colleague may have made what it skipped, or skipped more)."""
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment
    from veolab.runner import ledger as L
    from veolab.runner.status import DONE, NEW, PlanStatus
    from veolab.runner.sweep import Sweep
    from veolab.runner.videostore import VideoStore

    (clean_env / "prompts").mkdir()
    (clean_env / "prompts" / "q.j2").write_text("a fox, {{ light }}")
    path = clean_env / "undone.yaml"
    path.write_text(
        "name: undone\ntemplate: q.j2\nvars: {light: [dawn, dusk]}\nseeds: [1, 2, 3]\n"
        "params: {resolution: 720p, duration: 4}\n"
    )
    plan = plan_experiment(load_experiment(path))
    ledger = Ledger(f"sqlite:///{clean_env / 'ledger.db'}")
    sweep = Sweep(plan, RunOptions(), None, VideoStore(), ledger)  # type: ignore[arg-type]
    try:
        keys = [sweep.job(spec).key for spec in plan.runs]
        sweep.status = PlanStatus(status={spec.index: NEW for spec in plan.runs})
        sweep.status.status[0] = DONE  # done before the sweep: not this sweep's to count
        ended = {1: L.LOGGED, 2: L.FAILED, 3: L.LOST}  # 4: claimed, never sent; 5: no claim
        for i in (1, 2, 3, 4):
            assert isinstance(ledger.claim(keys[i], "undone"), L.Claim)
        for i, state in ended.items():
            ledger._set(keys[i], state=state)
        assert sweep._undone() == 2
    finally:
        sweep.pool.shutdown()
        ledger.close()
