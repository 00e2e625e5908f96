"""`veolab run`, `rerun` and `generate` on the vertex provider against the simulator: filtered
outputs are failed runs with Google's reasons, the settings that change the output are params,
a rerun warns when the seed cannot hold, a kill mid-sweep is resumed by operation name and
nothing is paid twice, and missing credentials are one line."""

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

TOKEN = "ya29.run-token-0123456789"
EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: {subjects}
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: {seeds}
concurrency: 2
provider: {{name: vertex, base_url: "{url}", project: proj, poll_interval: 0.05,
           poll_max_interval: 0.2{extra}}}
"""


def project(tmp: Path, url: str, name: str, subjects: str, seeds: str, extra: str = "") -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} by the sea")
    path = tmp / f"{name}.yaml"
    path.write_text(
        EXPERIMENT.format(name=name, url=url, subjects=subjects, seeds=seeds, extra=extra)
    )
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.setenv("VEOLAB_VERTEX_TOKEN", TOKEN)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
def test_filtered_runs_fail_with_reasons_and_a_rerun_warns_the_seed_cannot_hold(
    tmp_path: Path, sim_server
) -> None:
    srv = sim_server(api_key=TOKEN, credits=20.0)
    path = project(
        tmp_path,
        srv.base_url,
        "vx",
        '[a red fox, "[sim:filter] a crab"]',
        "[5]",
        ", enhance_prompt: true",
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
    env = {**os.environ, "VEOLAB_VERTEX_TOKEN": TOKEN}
    with serve_in_subprocess("--api-key", TOKEN, "--latency", "1.5") as url:
        # 12 runs at concurrency 2: the kill lands part-way through
        path = project(tmp_path, url, "vkilled", "[a red fox, a grey gull]", "[1, 2, 3, 4, 5, 6]")
        store = Path(os.environ["VEOLAB_HOME"]) / "store" / "vertex" / "veo-3.1"
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
        submits_before = fetch_ledger(url)["counts"]["submit"]

        plan = plan_experiment(load_experiment(path))
        result = run_plan(plan, RunOptions(yes=True))
        ledger = fetch_ledger(url)
        per_hash = Counter(j["request_hash"] for j in ledger["jobs"])
        assert per_hash and max(per_hash.values()) == 1, "a job was billed twice"
        # operations the killed sweep had named were fetched again, not submitted again
        assert ledger["counts"]["submit"] - submits_before <= 12 - done_before
        finished = {x.data.tags[S.REQUEST_HASH] for x in generations("vkilled", "FINISHED")}
        unknown = {r.request_hash for r in result.unknown}
        assert finished | unknown == {r.request_hash for r in plan.runs}
        assert not finished & unknown
        assert result.exit_code == (1 if unknown else 0)


def test_a_seed_with_several_samples_is_refused_at_plan_time(tmp_path: Path) -> None:
    # no server: the plan is refused before anything is asked of the host
    path = project(
        tmp_path,
        "http://127.0.0.1:9",
        "samples",
        "[a fox, a crab]",
        "[1, 2]",
        extra=", sample_count: 2",
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
