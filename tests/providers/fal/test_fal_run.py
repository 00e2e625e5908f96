"""`veolab run` on the fal provider against ``veolab sim serve``: auto_fix logged as a param
and the prompt fal used as a tag, a refused prompt a failed run, and a sweep killed with
SIGKILL resumed by request id with nothing paid twice."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations, host_project, sigkill_then_resume

from veolab.cli import cli
from veolab.tracking import schema as S

KEY = "fal-run:key0123456789"


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
    path = host_project(
        tmp_path,
        "fal",
        srv.base_url,
        "fal",
        '[a red fox, "[sim:filter] a crab"]',
        "[5]",
        f", model: veo-3.1-fast, auto_fix: {str(auto_fix).lower()}",
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
    sigkill_then_resume(tmp_path, "fal", "FAL_KEY", KEY, "fkilled")
