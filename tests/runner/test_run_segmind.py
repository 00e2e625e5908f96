"""`veolab run` against the local Segmind (`veolab sim serve`): billing, budget, faults, resume."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations, segmind_project, use_segmind_key

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.runner import RunOptions, plan_experiment, run_plan
from veolab.simserver import fetch_ledger, serve_in_subprocess
from veolab.tracking import schema as S

KEY = "test-key-123456"


def project(tmp: Path, url: str, name: str, seeds: str = "[1, 2]", extra: str = "") -> Path:
    return segmind_project(tmp, url, name, seeds, extra, poll=(0.1, 0.3), folder="experiments")


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    use_segmind_key(monkeypatch, KEY)


@pytest.mark.slow
def test_paid_run_bills_once_and_logs_cost(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=100.0)
    path = project(tmp_path, srv.base_url, "paid")
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert "| generated 4 | spend $6.40" in r.stdout
    ledger = srv.ledger()
    assert len(ledger["jobs"]) == 4
    runs = generations("paid", "FINISHED")
    assert sorted(x.data.metrics[S.COST] for x in runs) == [1.6] * 4
    assert {x.data.tags[S.PROVIDER_REQUEST_ID] for x in runs} == {
        j["request_id"] for j in ledger["jobs"]
    }
    assert min(x.data.metrics[S.REMAINING_CREDITS] for x in runs) == pytest.approx(93.6)
    # the key appears nowhere in what was logged
    for x in runs:
        assert KEY not in repr(x.data.params) + repr(x.data.tags)
        resp = Path(
            mlflow.artifacts.download_artifacts(run_id=x.info.run_id, artifact_path=S.ART_RESPONSE)
        )
        assert KEY not in resp.read_text()
    # a second run pays for nothing
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0
    assert r.stdout == "paid: nothing to do: 4 runs already done (--force runs them again)\n"
    assert len(srv.ledger()["jobs"]) == 4


@pytest.mark.slow
def test_budget_is_reserved_before_submit(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.3)
    path = project(tmp_path, srv.base_url, "budget", seeds="[1, 2, 3]")
    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--budget", "5", "--concurrency", "4"])
    assert r.exit_code == 1, r.output
    assert "| generated 3, skipped 3 | spend $4.80" in r.stdout
    assert "budget $5.00 (--budget): $4.80 spent or reserved, next run $1.60" in r.stderr
    assert len(srv.ledger()["jobs"]) == 3  # concurrency 4 never overshot the budget


@pytest.mark.slow
def test_confirmation_above_threshold(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url, "confirm")
    r = CliRunner().invoke(cli, ["run", str(path)], input="")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: not confirmed: estimated $6.40 is above confirm_above $5.00; "
        "pass --yes to run without asking\n"
    )
    assert srv.ledger()["jobs"] == []


@pytest.mark.slow
def test_faults_become_failed_runs(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    srv.inject_faults(
        {
            "route": "submit",
            "status": 400,
            "message": "prompt rejected by safety filter",
            "count": 2,
        }
    )
    path = project(tmp_path, srv.base_url, "faults")
    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--concurrency", "1"])
    assert r.exit_code == 1
    assert "| generated 2, failed 2 |" in r.stdout
    failed = generations("faults", "FAILED")
    assert {x.data.tags[S.ERROR_CLASS] for x in failed} == {"BadRequestError"}
    assert all("prompt rejected by safety filter" in x.data.tags[S.ERROR_MESSAGE] for x in failed)
    assert len(srv.ledger()["jobs"]) == 2


@pytest.mark.slow
def test_missing_key_is_exit_2_before_any_request(tmp_path: Path, sim_server, monkeypatch) -> None:
    srv = sim_server(api_key=KEY)
    monkeypatch.delenv("SEGMIND_API_KEY")
    path = project(tmp_path, srv.base_url, "nokey")
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 2
    assert "SEGMIND_API_KEY" in r.stderr
    assert srv.ledger()["attempts"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sigkill_then_resume_pays_nothing_twice(tmp_path: Path) -> None:
    env = {**os.environ, "SEGMIND_API_KEY": KEY}
    with serve_in_subprocess("--api-key", KEY, "--latency", "1.5") as url:
        # 16 runs: even on a loaded machine the kill lands before the sweep ends
        path = project(tmp_path, url, "killed", seeds="[1, 2, 3, 4, 5, 6, 7, 8]")
        store = Path(os.environ["VEOLAB_HOME"]) / "store" / "segmind" / "veo-3.1"
        runner = subprocess.Popen(
            [sys.executable, "-m", "veolab", "run", str(path), "--yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline and len(list(store.glob("*.mp4"))) < 3:
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        done_before = len(list(store.glob("*.mp4")))
        assert 3 <= done_before < 16, "the kill must land part-way through the sweep"
        billed_before = len(fetch_ledger(url)["jobs"])

        plan = plan_experiment(load_experiment(path))
        result = run_plan(plan, RunOptions(yes=True))  # up to 13 x $1.60: above confirm_above
        ledger = fetch_ledger(url)
        per_hash = Counter(j["request_hash"] for j in ledger["jobs"])
        assert per_hash and max(per_hash.values()) == 1, "a job was billed twice"
        assert billed_before >= done_before
        exp = mlflow.get_experiment_by_name("killed")
        runs = mlflow.search_runs([exp.experiment_id], output_format="list")
        assert not [x for x in runs if x.info.status == "RUNNING"]
        assert "KILLED" in {x.info.status for x in runs if x.data.tags.get(S.KIND) == S.KIND_SWEEP}
        finished = {x.data.tags[S.REQUEST_HASH] for x in generations("killed", "FINISHED")}
        # a kill that lands while a submit's answer is on its way leaves an "outcome unknown"
        # submit: it is reported (exit 1), never silently paid again
        unknown = {r.request_hash for r in result.unknown}
        assert finished | unknown == {r.request_hash for r in plan.runs}
        assert not finished & unknown
        assert result.exit_code == (1 if unknown else 0)
        assert len(unknown) <= 2  # at most the submits in flight at concurrency 2


@pytest.mark.slow
def test_remote_mlflow_server(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.time() + 300  # mlflow server starts in seconds, or minutes under load
        while time.time() < deadline:
            try:
                if httpx.get(f"{uri}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("mlflow server did not start")
        (tmp_path / "prompts").mkdir()
        (tmp_path / "prompts" / "q.j2").write_text("{{ subject }}, calm blue sea")
        p = tmp_path / "remote.yaml"
        p.write_text(
            "name: remote\ntemplate: q.j2\nvars: {subject: a boat}\n"
            "params: {resolution: 720p, duration: 4}\nseeds: [1]\n"
        )
        r = CliRunner().invoke(cli, ["run", str(p), "--tracking-uri", uri])
        assert r.exit_code == 0, r.output
        mlflow.set_tracking_uri(uri)
        runs = generations("remote", "FINISHED")
        assert len(runs) == 1
        arts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs[0].info.run_id)}
        assert {S.ART_VIDEO, S.ART_CONTACT_SHEET, S.ART_ANALYSIS} <= arts
        # proxied artifacts: the files live where the server keeps them
        assert list((tmp_path / "server-artifacts").rglob(S.ART_VIDEO))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:  # a loaded machine: never leave the server behind
            server.kill()
            server.wait()
