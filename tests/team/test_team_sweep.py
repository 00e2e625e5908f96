"""Many workers, one sweep, one bill (issue 15), end to end with real processes.

Three ``veolab run`` processes, each with its own ``VEOLAB_HOME``, run one 60-run sweep against
one ledger and one MLflow store, on ``veolab sim serve`` (Segmind's protocol) with latency. One
worker is killed with SIGKILL mid-way, in a state where a job of its own is billed and in
flight (it is stopped first and looked at in the ledger: never while a submit's answer is
pending, whose outcome would honestly be unknown). The two others finish the sweep.

- PostgreSQL: the ledger and ``mlflow server`` (proxied artifacts) on one throwaway cluster;
  each worker names itself another host (``VEOLAB_HOSTNAME``), so the dead worker's claims are
  taken over when their leases (``VEOLAB_LEASE_SECONDS=3``) run out, as across machines.
- SQLite: the default ledger file and a local MLflow store, shared by three processes of one
  machine: the dead worker's claims are taken over as soon as its pid is gone.

Either way: 60 distinct generations FINISHED in MLflow under one sweep run, the simulator
billed exactly 60 jobs, nothing RUNNING, the experiment's budget (exactly the plan's estimate)
never exceeded, and the work spread over the workers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa
from helpers import plan_json

from veolab.runner.ledger import Ledger
from veolab.runner.ledger_db import claims, sweep_workers
from veolab.simserver import fetch_ledger, serve_in_subprocess
from veolab.tracking import schema as S

KEY = "team-key-0000"
NAME = "team-sweep"
LIGHTING = ["dawn", "noon", "dusk", "night", "fog", "rain"]
EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: a red fox
  lighting: {lighting}
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
concurrency: 2
budget: {budget}
provider: {{name: segmind, mode: queue, base_url: "{url}", poll_interval: 0.1,
           poll_max_interval: 0.25}}
"""


def _project(tmp: Path, url: str) -> tuple[Path, float]:
    """The 60-run experiment file; its budget is exactly the plan's estimated spend."""
    (tmp / "prompts").mkdir()
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} on a beach, {{ lighting }} light")
    path = tmp / f"{NAME}.yaml"
    fields = {"name": NAME, "lighting": json.dumps(LIGHTING), "url": url}
    path.write_text(EXPERIMENT.format(budget=1000, **fields))
    plan = plan_json(path)
    assert len(plan["runs"]) == 60
    budget = round(sum(r["estimated_cost"] for r in plan["runs"]), 4)
    path.write_text(EXPERIMENT.format(budget=budget, **fields))
    return path, budget


def _start(path: Path, env: dict[str, str], home: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "veolab", "run", str(path), "--yes"]
    with open(log, "w") as out:
        return subprocess.Popen(
            cmd, env={**env, "VEOLAB_HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT
        )


def _owned(engine: sa.Engine, pid: int) -> tuple[list[str], int]:
    """The states of the claims worker ``pid`` holds, and how many runs it generated."""
    mine = f"%:{pid}:%"
    with engine.connect() as c:
        states = list(c.execute(sa.select(claims.c.state).where(claims.c.owner.like(mine))))
        generated = c.execute(
            sa.select(sa.func.coalesce(sa.func.sum(sweep_workers.c.generated), 0)).where(
                sweep_workers.c.owner.like(mine)
            )
        ).scalar_one()
    return [s for (s,) in states], int(generated)


def _kill_mid_flight(proc: subprocess.Popen, engine: sa.Engine, after: int) -> int:
    """SIGKILL ``proc`` once it generated ``after`` runs, at a moment it holds a billed job in
    flight and no submit whose answer is pending; the runs it had generated."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker ended before it could be killed"
        states, generated = _owned(engine, proc.pid)
        if generated >= after and "submitted" in states and "sending" not in states:
            proc.send_signal(signal.SIGSTOP)  # frozen: what the ledger says is what it did
            states, generated = _owned(engine, proc.pid)
            if "submitted" in states and "sending" not in states:
                proc.kill()
                proc.wait()
                return generated
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    pytest.fail("the worker never reached a state to kill it in")


def _team_sweep(
    tmp_path: Path, ledger_url: str, tracking_uri: str, *, hosts: bool
) -> dict[str, object]:
    """Run the sweep on three workers, kill one, and check everything the issue asks."""
    with ExitStack() as stack:
        sim = stack.enter_context(
            serve_in_subprocess(
                "--api-key", KEY, "--latency", "1.0", "--prerendered", "2", "--render-workers", "1"
            )
        )
        path, budget = _project(tmp_path, sim)
        env = {
            **os.environ,
            "SEGMIND_API_KEY": KEY,
            "VEOLAB_LEDGER_URI": ledger_url,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "VEOLAB_LEASE_SECONDS": "3",
        }
        Ledger(ledger_url).close()  # the team's ledger, made (migrated) before the workers
        engine = sa.create_engine(ledger_url)
        stack.callback(engine.dispose)
        procs = []
        for i in range(3):
            worker_env = {**env, "VEOLAB_HOSTNAME": f"worker-{i}"} if hosts else env
            proc = _start(path, worker_env, tmp_path / f"home-{i}", tmp_path / f"worker-{i}.log")
            stack.callback(_stop, proc)
            procs.append(proc)
        victim = procs[0]
        killed_after = _kill_mid_flight(victim, engine, after=4)
        for proc in procs[1:]:
            proc.wait(timeout=900)
        logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(3)]
        for proc, log in zip(procs[1:], logs[1:], strict=True):
            assert proc.returncode == 0, log
            assert "Traceback" not in log, log
        billed = fetch_ledger(sim)

    # the simulator billed each of the 60 requests once
    jobs = Counter(j["request_hash"] for j in billed["jobs"])
    assert len(jobs) == 60 and set(jobs.values()) == {1}, jobs
    assert billed["total_cost"] <= budget + 1e-9
    # the ledger's spend never went past the experiment's budget
    with engine.connect() as c:
        spent = c.execute(
            sa.text(
                "SELECT COALESCE(SUM(COALESCE(billed, estimate)), 0) FROM payments "
                "WHERE experiment = :e AND status != 'not_billed'"
            ),
            {"e": NAME},
        ).scalar_one()
    assert spent <= budget + 1e-9

    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.get_experiment_by_name(NAME)
    runs = mlflow.search_runs([exp.experiment_id], output_format="list", max_results=1000)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    finished = [
        r
        for r in runs
        if r.data.tags.get(S.KIND) == S.KIND_GENERATION and r.info.status == "FINISHED"
    ]
    hashes = Counter(r.data.tags[S.REQUEST_HASH] for r in finished)
    assert len(hashes) == 60 and set(hashes.values()) == {1}, hashes
    assert set(hashes) == set(jobs)
    # one sweep run holds them all, closed by the last worker out with the team's metrics
    sweeps = [r for r in runs if r.data.tags.get(S.KIND) == S.KIND_SWEEP]
    assert [s.info.status for s in sweeps] == ["FINISHED"]
    assert {r.data.tags[S.PARENT_RUN_ID] for r in finished} == {sweeps[0].info.run_id}
    assert sweeps[0].data.metrics[S.SWEEP_WORKERS] == 3
    assert sweeps[0].data.metrics[S.SWEEP_RUNS] == 60
    assert sweeps[0].data.metrics[S.SWEEP_SKIPPED] == 0  # every run ended, whoever closed it
    # its spend is every worker's payments, the dead one's too (billed, or its estimate where
    # the host's bill was never read): at least what the simulator billed, within the budget
    assert billed["total_cost"] - 1e-6 <= sweeps[0].data.metrics[S.SWEEP_SPEND] <= budget + 1e-6
    # the work spread over the workers: each survivor generated some, the victim its share
    by_pid = Counter(r.data.tags[S.PID] for r in finished)
    assert by_pid[str(victim.pid)] >= killed_after >= 4
    for proc in procs[1:]:
        assert by_pid[str(proc.pid)] > 0, by_pid
    assert sum(by_pid.values()) == 60
    return {"by_pid": by_pid, "logs": logs}


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_three_workers_on_postgresql_one_killed(tmp_path: Path, pg_url: str, mlflow_on_pg) -> None:
    tracking = mlflow_on_pg()
    got = _team_sweep(tmp_path, pg_url, tracking, hosts=True)
    _survivors_say_so(got["logs"][1:])


@pytest.mark.slow
def test_three_workers_on_sqlite_one_killed(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    got = _team_sweep(tmp_path, ledger, tracking, hosts=False)
    _survivors_say_so(got["logs"][1:])


def _survivors_say_so(logs: list[str]) -> None:
    """Each survivor's summary: what it generated, the rest done by its colleagues."""
    for log in logs:
        found = re.search(rf"^{NAME}: 60 runs \| (.*?) \| spend ", log, re.M)
        assert found, log
        counts = {k: int(n) for k, n in (part.rsplit(" ", 1) for part in found[1].split(", "))}
        generated, others = counts.get("generated", 0), counts.get("already done", 0)
        assert set(counts) <= {"generated", "already done"}, counts
        assert generated + others == 60
        assert f"  {others} of them dealt with by other workers of the sweep\n" in log
