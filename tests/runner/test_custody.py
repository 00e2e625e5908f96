"""Custody of paid work over real HTTP to `veolab sim serve`: two processes at once pay once,
a job billed and then lost is fetched again by its id (never paid twice), a corrupt body never
reaches the store, and the experiment's budget holds across invocations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import all_runs, generations, plan_json, use_segmind_key
from helpers import segmind_project as project

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.runner import plan_experiment
from veolab.runner.ledger import Ledger
from veolab.runner.status import run_key
from veolab.tracking import schema as S

KEY = "custody-key-0000"


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    use_segmind_key(monkeypatch, KEY)


def _two_runs_at_once(path: Path) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "SEGMIND_API_KEY": KEY}
    cmd = [sys.executable, "-m", "veolab", "run", str(path), "--yes"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("store", ["fresh", "existing"])
def test_two_runs_at_once_bill_each_request_once(tmp_path: Path, sim_server, store) -> None:
    srv = sim_server(api_key=KEY, latency=0.8)
    path = project(tmp_path, srv.base_url, "twice", seeds="[1, 2, 3]")
    if store == "existing":
        from veolab.tracking.store import Tracker

        Tracker().experiment_id("twice")
    results = _two_runs_at_once(path)
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
    hashes = {r.request_hash for r in plan_experiment(load_experiment(path)).runs}
    billed = Counter(j["request_hash"] for j in srv.ledger()["jobs"])
    assert billed == Counter({h: 1 for h in hashes}), "a request was billed twice"
    logged = Counter(x.data.tags[S.REQUEST_HASH] for x in generations("twice"))
    assert logged == Counter({h: 1 for h in hashes}), "a generation was logged twice"
    assert not [x for x in all_runs("twice") if x.info.status == "RUNNING"]
    # between them the two processes did all six runs, each once
    # (one that looks after the other has logged all six has nothing to do)
    counts = [_generated_and_done(r.stdout) for r in results]
    done = [generated for generated, _ in counts]
    elsewhere = [already for _, already in counts]
    assert sum(done) == 6
    assert sum(elsewhere) == 6


def _generated_and_done(stdout: str) -> tuple[int, int]:
    """(generated, already done) from a run's summary or its "nothing to do" line."""
    nothing = re.search(r"nothing to do: (\d+) runs already done", stdout)
    if nothing:
        return 0, int(nothing[1])
    m = re.search(r"generated (\d+), already done (\d+)", stdout)
    assert m, stdout
    return int(m[1]), int(m[2])


@pytest.mark.slow
def test_billed_then_403_is_fetched_again_not_paid_again(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "expired")
    srv.inject_faults(
        {"route": "file", "status": 403, "message": "Request has expired (signed URL)", "count": 2}
    )
    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--concurrency", "1"])
    assert r.exit_code == 1
    assert "spend $3.20" in r.stdout  # both jobs billed: their spend counts
    assert "billed, but" in r.stderr and "expired" in r.stderr
    assert "may not use the model" not in r.stderr
    assert len(srv.ledger()["jobs"]) == 2
    failed = [x for x in generations("expired") if x.info.status == "FAILED"]
    assert sorted(x.data.metrics[S.COST] for x in failed) == [1.6, 1.6]

    p = plan_json(path)
    assert [x["status"] for x in p["runs"]] == ["lost", "lost"]
    assert p["totals"]["lost"] == 2 and p["totals"]["to_pay"] == 0
    assert p["totals"]["lost_billed"] == 3.2
    assert p["totals"]["spent"] == 3.2
    text = CliRunner().invoke(cli, ["plan", str(path)], env={"COLUMNS": "200"}).stdout
    assert "billed, output not obtained: 2 runs, $3.20 already billed" in text

    # the URL works again: the next run fetches both by job id and pays nothing
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert "spend $0.00" in r.stdout
    assert len(srv.ledger()["jobs"]) == 2
    finished = [x for x in generations("expired") if x.info.status == "FINISHED"]
    assert len(finished) == 2
    ledger = Ledger()
    try:
        assert ledger.spent("expired") == 3.2
    finally:
        ledger.close()


@pytest.mark.slow
def test_lost_for_good_is_repaid_only_with_repay_lost(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "gone")
    # every download of the first two jobs fails: first run, the fetch again, the fetch before
    # repaying; the two new jobs' downloads then work
    srv.inject_faults({"route": "file", "status": 404, "message": "Not found", "count": 6})
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])  # fetched again: still gone
    assert r.exit_code == 1
    assert "skipped 2" in r.stdout
    assert "fetched again by job id and still not obtained; --repay-lost pays again" in r.stderr
    assert len(srv.ledger()["jobs"]) == 2  # never paid again without being asked
    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--repay-lost"])
    assert r.exit_code == 0, r.output
    assert "generated 2" in r.stdout and "spend $3.20" in r.stdout
    assert len(srv.ledger()["jobs"]) == 4
    ledger = Ledger()
    try:
        assert ledger.spent("gone") == 6.4  # the lost jobs stay counted
    finally:
        ledger.close()


def _corrupt_mp4() -> str:
    """ISO-BMFF boxes that pass the structural check but hold no decodable movie (ASCII only,
    so it travels as the fault's text content)."""

    def box(kind: str, payload: str) -> str:
        size = 8 + len(payload)
        return "".join(chr(b) for b in size.to_bytes(4, "big")) + kind + payload

    return (
        box("ftyp", "isom" + "\x00\x00\x02\x00" + "isomiso2")
        + box("moov", "x" * 600)
        + box("mdat", "garbage " * 100)
    )


@pytest.mark.slow
def test_a_corrupt_body_never_reaches_the_store(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "corrupt")
    body = _corrupt_mp4()
    srv.inject_faults(
        {"route": "file", "kind": "reply", "content": body, "content_type": "video/mp4", "count": 2}
    )
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1
    assert "billed, but the video is corrupt" in r.stderr
    home = Path(os.environ["VEOLAB_HOME"])
    assert not list((home / "store").rglob("*.mp4"))
    kept = list((home / "quarantine").iterdir())
    assert len(kept) == 2 and all(p.suffix == ".bad" for p in kept)
    p = plan_json(path)
    assert [x["status"] for x in p["runs"]] == ["lost", "lost"]  # not "cached"
    plan = plan_experiment(load_experiment(path))
    ledger = Ledger()
    try:
        entries = ledger.entries([run_key("segmind", "veo-3.1", x.request_hash) for x in plan.runs])
        assert {e.state for e in entries.values()} == {"corrupt"}
    finally:
        ledger.close()
    # fetched again by id, the host's answer is good now: kept, logged, nothing paid again
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert len(srv.ledger()["jobs"]) == 2
    assert len(list((home / "store").rglob("*.mp4"))) == 2


@pytest.mark.slow
def test_experiment_budget_holds_across_invocations(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "budget", seeds="[1, 2]", extra="budget: 5.0")
    p = plan_json(path)
    assert p["totals"]["to_pay"] == 4
    text = CliRunner().invoke(cli, ["plan", str(path)], env={"COLUMNS": "200"}).stdout
    assert "1 of 4 runs to pay would be skipped" in text
    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--budget", "1.6"])
    assert r.exit_code == 1
    assert "spend $1.60" in r.stdout
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1
    assert "generated 2" in r.stdout and "skipped 1" in r.stdout
    assert "budget $5.00 of experiment budget: $4.80 spent or reserved, next run $1.60" in r.stderr
    assert len(srv.ledger()["jobs"]) == 3


@pytest.mark.slow
def test_no_wait_skips_a_run_another_process_holds(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "busy")
    plan = plan_experiment(load_experiment(path))
    key = run_key("segmind", "veo-3.1", plan.runs[0].request_hash)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from veolab.runner.ledger import Ledger; l = Ledger(); "
            f"l.claim({key!r}, 'busy'); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert [x["status"] for x in plan_json(path)["runs"]] == ["busy", "new"]
        r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--no-wait"])
        assert r.exit_code == 1
        assert "run 0: skipped: in progress in another process (pid" in r.stderr
        assert len(srv.ledger()["jobs"]) == 1
    finally:
        holder.kill()
        holder.wait(10)
    # its owner is gone: the claim is taken over and paid (nothing was ever sent for it)
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert len(srv.ledger()["jobs"]) == 2


def test_generate_fetches_a_lost_job_again_once_then_pays_for_a_new_one(
    tmp_path: Path, sim_server
) -> None:
    srv = sim_server(api_key=KEY)
    out = tmp_path / "fox.mp4"
    args = [
        "generate", "-p", "a red fox", "--resolution", "720p", "--duration", "4", "--seed", "5",
        "--provider", "segmind", "--base-url", srv.base_url, "-o", str(out),
    ]  # fmt: skip
    srv.inject_faults({"route": "file", "status": 403, "message": "Request has expired"})
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 3
    assert "is billed, but the download URL has expired" in r.stderr
    assert not out.exists()
    r = CliRunner().invoke(cli, args)  # the same request again: its job is fetched by id
    assert r.exit_code == 0, r.output
    assert out.is_file() and len(srv.ledger()["jobs"]) == 1
    r = CliRunner().invoke(cli, args)  # asked again after a success: a new purchase
    assert r.exit_code == 0, r.output
    assert len(srv.ledger()["jobs"]) == 2
