"""`veolab run`, `rerun` and `generate` on the vertex provider against the simulator: filtered
outputs are failed runs with Google's reasons, the settings that change the output are params,
a rerun warns when the seed cannot hold, a kill mid-sweep is resumed by operation name and
nothing is paid twice, and missing credentials are one line."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations, host_project, sigkill_then_resume

from veolab.cli import cli
from veolab.tracking import schema as S

TOKEN = "ya29.run-token-0123456789"


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.setenv("VEOLAB_VERTEX_TOKEN", TOKEN)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
def test_filtered_runs_fail_with_reasons_and_a_rerun_warns_the_seed_cannot_hold(
    tmp_path: Path, sim_server
) -> None:
    srv = sim_server(api_key=TOKEN, credits=20.0)
    path = host_project(
        tmp_path,
        "vertex",
        srv.base_url,
        "vx",
        '[a red fox, "[sim:filter] a crab"]',
        "[5]",
        ", project: proj, enhance_prompt: true",
    )
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1, r.output
    assert "| generated 1, failed 1 |" in r.stdout
    (failed,) = generations("vx", "FAILED")
    assert failed.data.tags[S.ERROR_CLASS] == "FilteredError"
    assert "usage guidelines" in failed.data.tags[S.ERROR_MESSAGE]
    assert failed.data.tags[S.PROVIDER_REQUEST_ID].startswith("projects/proj/locations/")
    (done,) = generations("vx", "FINISHED")
    params = done.data.params
    assert (params["vertex.enhance_prompt"], params["vertex.sample_count"]) == ("true", "1")
    assert params["vertex.enhance_prompt"] == failed.data.params["vertex.enhance_prompt"]
    assert done.data.metrics[S.COST] == 0.8  # Vertex's $0.20 a second without audio
    assert [j["cost"] for j in srv.ledger()["jobs"]] == [0.8]  # the filtered one is not billed
    for run in (done, failed):
        assert TOKEN not in repr(run.data.params) + repr(run.data.tags)

    r = CliRunner().invoke(cli, ["rerun", done.info.run_id, "--yes"])
    assert r.exit_code == 0, r.output
    assert (
        "Warning: the seed does not hold on this run's settings: vertex enhance_prompt on "
        "(Vertex rewrites the prompt): the seed does not hold with sampleCount > 1 or "
        "enhancePrompt\n"
    ) in r.stderr

    # without credentials, a rerun is refused in the host's words before anything is sent
    jobs = len(srv.ledger()["jobs"])
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VEOLAB_VERTEX_TOKEN")
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
        r = CliRunner().invoke(cli, ["rerun", done.info.run_id, "--yes"])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: No Vertex AI credentials: set VEOLAB_VERTEX_TOKEN")
    assert len(r.stderr.splitlines()) == 1
    assert len(srv.ledger()["jobs"]) == jobs


def test_missing_credentials_are_one_line_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEOLAB_VERTEX_TOKEN")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    r = CliRunner().invoke(
        cli,
        [
            "generate",
            "--provider",
            "vertex",
            "-p",
            "a fox",
            "--duration",
            "4",
            "--resolution",
            "720p",
        ],
    )
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: No Vertex AI credentials: set VEOLAB_VERTEX_TOKEN to an access token (gcloud "
        "auth print-access-token) or set up application default credentials (gcloud auth "
        "application-default login, or GOOGLE_APPLICATION_CREDENTIALS=<key file>)\n"
    )


@pytest.mark.slow
def test_sigkill_then_resume_by_operation_name_pays_nothing_twice(tmp_path: Path) -> None:
    sigkill_then_resume(
        tmp_path, "vertex", "VEOLAB_VERTEX_TOKEN", TOKEN, "vkilled", ", project: proj"
    )


def test_a_seed_with_several_samples_is_refused_at_plan_time(tmp_path: Path) -> None:
    # no server: the plan is refused before anything is asked of the host
    path = host_project(
        tmp_path,
        "vertex",
        "http://127.0.0.1:9",
        "samples",
        "[a fox, a crab]",
        "[1, 2]",
        ", project: proj, sample_count: 2",
    )
    r = CliRunner().invoke(cli, ["plan", str(path)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.splitlines()
    assert lines[0].endswith(
        "2 grid cells cannot be made by their host (no cell is left to run: change the "
        "models, hosts or params):"
    ), lines
    assert len(lines) == 3 and all(
        line.endswith("a seed with vertex sample_count 2 (a seed holds only with sampleCount 1)")
        for line in lines[1:]
    ), lines
    # one sample: the same grid plans
    path.write_text(path.read_text().replace(", sample_count: 2", ""))
    assert CliRunner().invoke(cli, ["plan", str(path)]).exit_code == 0
