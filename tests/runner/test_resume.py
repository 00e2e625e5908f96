"""The ledger's crash leftovers, made deterministically: a queued job with a known id is
polled again (never paid again); a submit whose answer was lost is reported, and paid again only
with --resubmit-unknown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import use_segmind_key

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.providers import ProviderConfig, get_provider
from veolab.runner import plan_experiment
from veolab.runner.ledger import Ledger
from veolab.runner.status import run_key
from veolab.tracking import schema as S

KEY = "resume-key-0000"


class Crash(Exception):
    """Stands in for the process dying right after the host named the job."""


def project(tmp: Path, url: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} by the sea")
    p = tmp / "resume.yaml"
    p.write_text(
        "name: resume\ntemplate: q.j2\nvars: {subject: [a gull, a crab]}\n"
        "params: {resolution: 720p, duration: 4, generate_audio: false}\nseeds: [3]\n"
        f"provider: {{name: segmind, base_url: '{url}', poll_interval: 0.05, "
        "poll_max_interval: 0.1}\n"
    )
    return p


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    use_segmind_key(monkeypatch, KEY)


@pytest.mark.slow
def test_queued_job_with_an_id_is_polled_not_paid_again(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.3)
    path = project(tmp_path, srv.base_url)
    plan = plan_experiment(load_experiment(path))
    first = plan.runs[0]

    # a previous `veolab run` claimed the first run, recorded its job id, then died
    ledger = Ledger()
    key = run_key("segmind", "veo-3.1", first.request_hash)
    ledger.claim(key, "resume")
    payment = ledger.begin_payment(key, "resume", 1.6)

    def crash(request_id: str) -> None:
        ledger.submitted(key, payment, request_id)
        raise Crash

    provider = get_provider("segmind", ProviderConfig(name="segmind", base_url=srv.base_url))
    with pytest.raises(Crash):
        asyncio.run(provider.generate(first.request, on_submitted=crash))
    ledger.close()  # releases the claim, as a dead owner's would be taken over

    status = json.loads(CliRunner().invoke(cli, ["plan", str(path), "--json"]).stdout)
    assert [r["status"] for r in status["runs"]] == ["resume", "new"]

    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert "generated 2" in r.stdout
    jobs = srv.ledger()["jobs"]
    assert len(jobs) == 2  # the resumed job was billed once, by its original submit
    assert sorted(j["request_hash"] for j in jobs) == sorted(x.request_hash for x in plan.runs)
    exp = mlflow.get_experiment_by_name("resume")
    runs = mlflow.search_runs(
        [exp.experiment_id], f"tags.`{S.KIND}` = 'generation'", output_format="list"
    )
    ids = {x.data.tags[S.REQUEST_HASH]: x.data.tags[S.PROVIDER_REQUEST_ID] for x in runs}
    assert ids[first.request_hash] in {j["request_id"] for j in jobs}


@pytest.mark.slow
def test_unknown_outcome_is_reported_and_paid_only_on_request(tmp_path: Path, sim_server) -> None:
    srv = sim_server(api_key=KEY)
    path = project(tmp_path, srv.base_url)
    plan = plan_experiment(load_experiment(path))
    ledger = Ledger()
    key = run_key("segmind", "veo-3.1", plan.runs[1].request_hash)
    ledger.claim(key, "resume")
    ledger.begin_payment(key, "resume", 1.6)  # ... and the process died before any answer
    ledger.close()

    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1
    assert "| generated 1, skipped 1 |" in r.stdout
    assert (
        "run 1: skipped: outcome unknown: a submit was sent and its answer lost (it may be "
        "billed); --resubmit-unknown pays again"
    ) in r.stderr
    assert len(srv.ledger()["jobs"]) == 1

    r = CliRunner().invoke(cli, ["run", str(path), "--yes", "--resubmit-unknown"])
    assert r.exit_code == 0, r.output
    assert "generated 1, already done 1" in r.stdout
    assert len(srv.ledger()["jobs"]) == 2


@pytest.mark.slow
def test_long_prompt_is_cut_in_the_param_and_whole_in_prompt_txt(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "long.j2").write_text("{{ word }} " * 1500 + "calm blue sea")
    p = tmp_path / "long.yaml"
    p.write_text(
        "name: long\ntemplate: long.j2\nvars: {word: golden}\n"
        "params: {resolution: 720p, duration: 4}\nseeds: [1]\n"
    )
    r = CliRunner().invoke(cli, ["run", str(p)])
    assert r.exit_code == 0, r.output
    exp = mlflow.get_experiment_by_name("long")
    (run,) = mlflow.search_runs(
        [exp.experiment_id], f"tags.`{S.KIND}` = 'generation'", output_format="list"
    )
    full = "golden " * 1500 + "calm blue sea"
    assert len(full) > S.PARAM_MAX
    assert run.data.params[S.PARAM_PROMPT_TRUNCATED] == "true"
    assert run.data.params["prompt"].endswith(" …[cut: full text in prompt.txt]")
    assert len(run.data.params["prompt"]) <= S.PARAM_MAX
    txt = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=S.ART_PROMPT)
    )
    assert txt.read_text() == full + "\n"


@pytest.mark.slow
def test_unreachable_tracking_server_is_exit_3_quickly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "q.j2").write_text("a calm sea")
    p = tmp_path / "e.yaml"
    p.write_text("name: e\ntemplate: q.j2\nparams: {resolution: 720p, duration: 4}\nseeds: [1]\n")
    # (veolab caps MLflow's retries of a refused connection: seconds, not four minutes)
    r = CliRunner().invoke(cli, ["run", str(p), "--tracking-uri", f"http://127.0.0.1:{port}"])
    assert r.exit_code == 3
    assert r.stderr.startswith(f"Error: MLflow experiment lookup failed on http://127.0.0.1:{port}")
    assert r.stderr.endswith(
        "; is the server running? (check --tracking-uri or MLFLOW_TRACKING_URI)\n"
    )
    assert r.stderr.count("\n") == 1
