"""`veolab run` on the replicate provider against ``veolab sim serve``: a sweep billed once per
request at Replicate's price, and a sweep killed with SIGKILL resumed by prediction id with
nothing paid twice."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations, host_project, sigkill_then_resume

from veolab.cli import cli
from veolab.tracking import schema as S

KEY = "r8_run_token_0123456789"


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
def test_a_sweep_on_replicate_is_billed_once_and_logged(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=20.0)
    path = host_project(
        tmp_path,
        "replicate",
        srv.base_url,
        "rep",
        '[a red fox, "[sim:filter] a crab"]',
        "[5]",
        ", model: veo-3.1-fast",
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
    sigkill_then_resume(tmp_path, "replicate", "REPLICATE_API_TOKEN", KEY, "rkilled")
