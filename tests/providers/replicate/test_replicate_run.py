"""`veolab run` on the replicate provider against ``veolab sim serve``: a sweep billed once per
request at Replicate's price, and a sweep killed with SIGKILL resumed by prediction id with
nothing paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.runner import RunOptions, plan_experiment, run_plan
from veolab.simserver import fetch_ledger, serve_in_subprocess
from veolab.tracking import schema as S

KEY = "r8_run_token_0123456789"
EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: {subjects}
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: {seeds}
concurrency: 2
provider: {{name: replicate, model: {model}, base_url: "{url}", poll_interval: 0.05,
           poll_max_interval: 0.2}}
"""


def project(
    tmp: Path, url: str, name: str, subjects: str, seeds: str, model: str = "veo-3.1"
) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} by the sea")
    path = tmp / f"{name}.yaml"
    path.write_text(
        EXPERIMENT.format(name=name, url=url, subjects=subjects, seeds=seeds, model=model)
    )
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
def test_a_sweep_on_replicate_is_billed_once_and_logged(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=20.0)
    path = project(
        tmp_path, srv.base_url, "rep", '[a red fox, "[sim:filter] a crab"]', "[5]", "veo-3.1-fast"
    )
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1, r.output
    assert "| generated 1, failed 1 |" in r.stdout
    (failed,) = generations("rep", "FAILED")
    assert failed.data.tags[S.ERROR_CLASS] == "FilteredError"
    assert "(E005)" in failed.data.tags[S.ERROR_MESSAGE]
    (done,) = generations("rep", "FINISHED")
    assert (done.data.tags[S.PROVIDER], done.data.tags[S.MODEL]) == ("replicate", "veo-3.1-fast")
    assert done.data.metrics[S.COST] == 0.4  # Replicate's $0.10 a second, fast, no audio
    [job] = srv.ledger()["jobs"]  # the filtered one is not billed
    assert job["request_id"] == done.data.tags[S.PROVIDER_REQUEST_ID]
    assert job["cost"] == 0.4 and job["model"] == "google/veo-3.1-fast"
    for run in (done, failed):
        assert KEY not in repr(run.data.params) + repr(run.data.tags)
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])  # the filtered one is tried again
    assert r.exit_code == 1 and "| already done 1, failed 1 |" in r.stdout
    assert len(srv.ledger()["jobs"]) == 1


@pytest.mark.slow
def test_sigkill_then_resume_by_prediction_id_pays_nothing_twice(tmp_path: Path) -> None:
    env = {**os.environ, "REPLICATE_API_TOKEN": KEY}
    with serve_in_subprocess("--api-key", KEY, "--latency", "1.5") as url:
        # 12 runs at concurrency 2: the kill lands part-way through
        path = project(tmp_path, url, "rkilled", "[a red fox, a grey gull]", "[1, 2, 3, 4, 5, 6]")
        store = Path(os.environ["VEOLAB_HOME"]) / "store" / "replicate" / "veo-3.1"
        runner = subprocess.Popen(
            [sys.executable, "-m", "veolab", "run", str(path), "--yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 90
        while time.time() < deadline and len(list(store.glob("*.mp4"))) < 3:
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        done_before = len(list(store.glob("*.mp4")))
        assert 3 <= done_before < 12, "the kill must land part-way through the sweep"
        creates_before = fetch_ledger(url)["counts"]["submit"]

        plan = plan_experiment(load_experiment(path))
        result = run_plan(plan, RunOptions(yes=True))
        ledger = fetch_ledger(url)
        per_hash = Counter(j["request_hash"] for j in ledger["jobs"])
        assert per_hash and max(per_hash.values()) == 1, "a prediction was billed twice"
        # predictions the killed sweep had named were read again, not created again
        assert ledger["counts"]["submit"] - creates_before <= 12 - done_before
        finished = {x.data.tags[S.REQUEST_HASH] for x in generations("rkilled", "FINISHED")}
        unknown = {r.request_hash for r in result.unknown}
        assert finished | unknown == {r.request_hash for r in plan.runs}
        assert not finished & unknown
        assert result.exit_code == (1 if unknown else 0)
