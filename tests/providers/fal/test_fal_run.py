"""`veolab run` on the fal provider against ``veolab sim serve``: auto_fix logged as a param
and the prompt fal used as a tag, a refused prompt a failed run, and a sweep killed with
SIGKILL resumed by request id with nothing paid twice."""

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

KEY = "fal-run:key0123456789"
EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: {subjects}
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: {seeds}
concurrency: 2
provider: {{name: fal, model: {model}, base_url: "{url}", poll_interval: 0.05,
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
    monkeypatch.setenv("FAL_KEY", KEY)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
@pytest.mark.parametrize("auto_fix", [False, True])
def test_auto_fix_is_a_param_and_the_prompt_fal_used_a_tag(
    tmp_path: Path, sim_server, auto_fix: bool
) -> None:
    srv = sim_server(api_key=KEY, credits=20.0)
    path = project(
        tmp_path,
        srv.base_url,
        "fal",
        '[a red fox, "[sim:filter] a crab"]',
        "[5]",
        f"veo-3.1-fast, auto_fix: {str(auto_fix).lower()}",
    )
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    runs = generations("fal", "FINISHED")
    for run in runs + generations("fal", "FAILED"):
        assert run.data.params["fal.auto_fix"] == str(auto_fix).lower()
        assert run.data.params["fal.safety_tolerance"] == "default"
        assert KEY not in repr(run.data.params) + repr(run.data.tags)
    if not auto_fix:  # fal refuses the marked prompt: a failed run, not billed
        assert r.exit_code == 1, r.output
        (failed,) = generations("fal", "FAILED")
        assert failed.data.tags[S.ERROR_CLASS] == "FilteredError"
        assert "content checker" in failed.data.tags[S.ERROR_MESSAGE]
        assert S.PROMPT_USED not in runs[0].data.tags  # fal used the fox's prompt as sent
        assert [j["cost"] for j in srv.ledger()["jobs"]] == [0.4]
        return
    assert r.exit_code == 0, r.output  # fal rewrote the marked prompt and made the video
    used = {x.data.params["prompt"]: x.data.tags.get(S.PROMPT_USED) for x in runs}
    assert used == {
        "a red fox by the sea": None,
        "[sim:filter] a crab by the sea": "a crab by the sea",
    }
    assert [j["cost"] for j in srv.ledger()["jobs"]] == [0.4, 0.4]
    assert {x.data.tags[S.MODEL] for x in runs} == {"veo-3.1-fast"}
    fox = next(x for x in runs if x.data.params["prompt"] == "a red fox by the sea")
    r = CliRunner().invoke(cli, ["rerun", fox.info.run_id, "--yes"])
    assert r.exit_code == 0, r.output
    assert (
        "Warning: the seed does not hold on this run's settings: fal auto_fix on: fal may "
        "rewrite a refused prompt, and not the same way twice\n"
    ) in r.stderr


@pytest.mark.slow
def test_sigkill_then_resume_by_request_id_pays_nothing_twice(tmp_path: Path) -> None:
    env = {**os.environ, "FAL_KEY": KEY}
    with serve_in_subprocess("--api-key", KEY, "--latency", "1.5") as url:
        # 12 runs at concurrency 2: the kill lands part-way through
        path = project(tmp_path, url, "fkilled", "[a red fox, a grey gull]", "[1, 2, 3, 4, 5, 6]")
        store = Path(os.environ["VEOLAB_HOME"]) / "store" / "fal" / "veo-3.1"
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
        assert per_hash and max(per_hash.values()) == 1, "a request was billed twice"
        # requests the killed sweep had queued were polled again, not submitted again
        assert ledger["counts"]["submit"] - creates_before <= 12 - done_before
        finished = {x.data.tags[S.REQUEST_HASH] for x in generations("fkilled", "FINISHED")}
        unknown = {r.request_hash for r in result.unknown}
        assert finished | unknown == {r.request_hash for r in plan.runs}
        assert not finished & unknown
        assert result.exit_code == (1 if unknown else 0)
