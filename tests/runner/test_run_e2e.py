"""`veolab run` end to end on the in-process simulator, read back from MLflow."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.providers.sim import SimProvider
from veolab.runner import RunOptions, plan_experiment, run_plan
from veolab.tracking import schema as S

QUICK = """\
name: {name}
template: q.j2
vars:
  subject: a red fox
  lighting: [bright sunny day, dark night]
params: {{resolution: 720p, duration: 4}}
seeds: [1, 2]
concurrency: 2
{extra}
"""


def project(tmp: Path, name: str = "e2e", extra: str = "", template: str | None = None) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text(template or "{{ subject }} on a beach, {{ lighting }}")
    (tmp / "experiments").mkdir(exist_ok=True)
    p = tmp / "experiments" / f"{name}.yaml"
    p.write_text(QUICK.format(name=name, extra=extra))
    return p


def children(name: str, status: str | None = None):
    exp = mlflow.get_experiment_by_name(name)
    flt = f"tags.`{S.KIND}` = 'generation'"
    if status:
        flt += f" AND attributes.status = '{status}'"
    return mlflow.search_runs([exp.experiment_id], filter_string=flt, output_format="list")


def all_runs(name: str):
    exp = mlflow.get_experiment_by_name(name)
    return mlflow.search_runs([exp.experiment_id], output_format="list")


@pytest.fixture(autouse=True)
def _tracking() -> None:
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
def test_run_logs_every_generation_with_the_schema(tmp_path: Path) -> None:
    path = project(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("e2e: 4 runs | generated 4 | spend $0.00 | ")
    runs = children("e2e", "FINISHED")
    assert len(runs) == 4
    parents = [x for x in all_runs("e2e") if x.data.tags.get(S.KIND) == S.KIND_SWEEP]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.metrics[S.SWEEP_GENERATED] == 4.0
    parent_arts = MlflowClient().list_artifacts(parent.info.run_id, S.ART_TEMPLATE_DIR)
    assert [a.path for a in parent_arts] == [f"{S.ART_TEMPLATE_DIR}/q.j2"]
    assert S.ART_EXPERIMENT in {a.path for a in MlflowClient().list_artifacts(parent.info.run_id)}
    assert parent.data.tags[S.EXPERIMENT_SHA256] == load_experiment(path).source_sha256
    run = sorted(runs, key=lambda x: (x.data.params["var.lighting"], x.data.params["seed"]))[0]
    p, t, m = run.data.params, run.data.tags, run.data.metrics
    assert p["prompt"] == "a red fox on a beach, bright sunny day"
    assert (p["resolution"], p["duration"], p["aspect_ratio"], p["generate_audio"], p["seed"]) == (
        "720p",
        "4",
        "16:9",
        "true",
        "1",
    )
    assert (p["var.subject"], p["var.lighting"], p["provider"], p["model"]) == (
        "a red fox",
        "bright sunny day",
        "sim",
        "veo-3.1",
    )
    assert p[S.PARAM_PROMPT_TRUNCATED] == "false"
    assert t["mlflow.parentRunId"] == parent.info.run_id
    assert t[S.VARIANT_LABEL] == "lighting=bright sunny day"
    assert len(t[S.VARIANT]) == 10 and len(t[S.REQUEST_HASH]) == 64
    assert t[S.PROVIDER_REQUEST_ID].startswith("sim-")
    assert t[S.CHECKS_PASSED_TAG] == "true" and t[S.SOURCE] == "generated"
    assert m[S.CHECKS_PASSED] == 1.0 and m[S.COST] == 0.0
    assert m[S.LATENCY_TOTAL] > 0
    assert any(k.startswith(S.CHECK_PREFIX) for k in m)
    arts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {
        S.ART_VIDEO,
        S.ART_THUMBNAILS,
        S.ART_CONTACT_SHEET,
        S.ART_PROMPT,
        S.ART_REQUEST,
        S.ART_RESPONSE,
        S.ART_ANALYSIS,
    } <= arts
    thumbs = MlflowClient().list_artifacts(run.info.run_id, S.ART_THUMBNAILS)
    assert len(thumbs) >= 8
    local = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=S.ART_VIDEO)
    )
    assert local.read_bytes()[4:8] == b"ftyp"
    # the video is also in the local store, keyed by the request hash
    store = (
        Path(os.environ["VEOLAB_HOME"]) / "store" / "sim" / "veo-3.1" / f"{t[S.REQUEST_HASH]}.mp4"
    )
    assert store.read_bytes() == local.read_bytes()


@pytest.mark.slow
def test_second_run_pays_nothing_and_store_relogs(tmp_path: Path, monkeypatch) -> None:
    path = project(tmp_path, "again")
    assert CliRunner().invoke(cli, ["run", str(path)]).exit_code == 0

    async def boom(self, request, **kw):  # any generation now would be paying twice
        raise AssertionError("generated again")

    monkeypatch.setattr(SimProvider, "generate", boom)
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 0, r.output
    # nothing to do: no empty sweep run either
    assert r.stdout == "again: nothing to do: 4 runs already done (--force runs them again)\n"
    assert len(children("again")) == 4
    assert len([x for x in all_runs("again") if x.data.tags.get(S.KIND) == S.KIND_SWEEP]) == 1
    plan = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert '"already_done": 4' in plan.stdout

    # lose the tracking store: the videos come back from the local store, not from the provider
    db = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    other = tmp_path / "other-mlruns" / "mlflow.db"
    r = CliRunner().invoke(cli, ["run", str(path), "--tracking-uri", f"sqlite:///{other}"])
    assert r.exit_code == 0, r.output
    assert "| from store 4 |" in r.stdout
    assert db.exists()
    mlflow.set_tracking_uri(f"sqlite:///{other}")
    relogged = children("again", "FINISHED")
    assert len(relogged) == 4
    assert {x.data.tags[S.SOURCE] for x in relogged} == {"store"}


@pytest.mark.slow
def test_force_pays_again(tmp_path: Path) -> None:
    path = project(tmp_path, "force")
    assert CliRunner().invoke(cli, ["run", str(path)]).exit_code == 0
    r = CliRunner().invoke(cli, ["run", str(path), "--force"])
    assert r.exit_code == 0
    assert "| generated 4 |" in r.stdout
    assert len(children("force", "FINISHED")) == 8


@pytest.mark.slow
def test_failed_checks_exit_1(tmp_path: Path) -> None:
    path = project(
        tmp_path, "defects", extra="provider: {name: sim, options: {defects: {black_seconds: 1.5}}}"
    )
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 1, r.output
    assert "failed checks 4" in r.stdout
    runs = children("defects", "FINISHED")
    assert len(runs) == 4
    for run in runs:
        assert run.data.tags[S.CHECKS_PASSED_TAG] == "false"
        # 1.5 s of black is also 1.5 s of identical frames: FFmpeg's freezedetect says so too
        assert run.data.tags[S.FAILED_CHECKS] == "black_segments,frozen_segments"
        assert run.data.metrics[f"{S.CHECK_PREFIX}black_segments"] == 0.0
        assert run.data.metrics[f"{S.CHECK_PREFIX}duration"] == 1.0
        assert run.data.metrics[S.CHECKS_PASSED] == 0.0


@pytest.mark.slow
def test_provider_failure_is_a_failed_child_and_nothing_running(
    tmp_path: Path, monkeypatch
) -> None:
    from veolab.errors import ServerError

    path = project(tmp_path, "fails")

    async def fail(self, request, **kw):
        if request.seed == 2:
            raise ServerError("Segmind returned 500: boom; try again later", status_code=500)
        return await original(self, request, **kw)

    original = SimProvider.generate
    monkeypatch.setattr(SimProvider, "generate", fail)
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 1
    assert "| generated 2, failed 2 |" in r.stdout
    failed = children("fails", "FAILED")
    assert len(failed) == 2
    assert {x.data.tags[S.ERROR_CLASS] for x in failed} == {"ServerError"}
    assert failed[0].data.tags[S.ERROR_MESSAGE] == "Segmind returned 500: boom; try again later"
    assert S.ART_VIDEO not in {a.path for a in MlflowClient().list_artifacts(failed[0].info.run_id)}
    assert not [x for x in all_runs("fails") if x.info.status == "RUNNING"]
    # the failed ones are retried next time; the finished ones are not paid again
    monkeypatch.setattr(SimProvider, "generate", original)
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert "generated 2, already done 2" in r.stdout and r.exit_code == 0


def test_missing_template_variable_exits_2_and_logs_nothing(tmp_path: Path) -> None:
    path = project(tmp_path, "missing", template="{{ subject }} in {{ weather }}")
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 2
    assert r.stderr == f"Error: template q.j2: 'weather' is undefined: add it to vars in {path}\n"
    assert mlflow.get_experiment_by_name("missing") is None


@pytest.mark.slow
def test_interrupt_leaves_nothing_running_and_stale_runs_are_closed(tmp_path: Path) -> None:
    path = project(tmp_path, "interrupt")
    plan = plan_experiment(load_experiment(path))

    def stop(kind, spec, outcome):
        if kind == "end":  # Ctrl-C, delivered as the real signal to this process
            os.kill(os.getpid(), signal.SIGINT)

    # a background job's shell may ignore SIGINT: restore Python's own handler for this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_plan(plan, RunOptions(), on_event=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    runs = all_runs("interrupt")
    assert runs and not [x for x in runs if x.info.status == "RUNNING"]
    assert [x.info.status for x in runs if x.data.tags.get(S.KIND) == S.KIND_SWEEP] == ["KILLED"]

    # a run left RUNNING by a dead process is closed as KILLED by the next run
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("interrupt")
    ghost = client.create_run(
        exp.experiment_id, tags={S.PID: "999999999", S.HOST: os.uname().nodename}
    )
    result = run_plan(plan_experiment(load_experiment(path)), RunOptions())
    assert client.get_run(ghost.info.run_id).info.status == "KILLED"
    assert result.exit_code == 0


@pytest.mark.slow
def test_quickstart_file_runs(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "prompts", tmp_path / "prompts")
    (tmp_path / "experiments").mkdir()
    shutil.copy(repo / "experiments" / "quickstart.yaml", tmp_path / "experiments")
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "experiments" / "quickstart.yaml")])
    assert r.exit_code == 0, r.output
    runs = children("quickstart", "FINISHED")
    by_light = {}
    for x in runs:
        by_light.setdefault(x.data.params["var.lighting"], []).append(
            x.data.metrics["brightness_mean"]
        )
    bright = sum(by_light["bright sunny morning light"]) / 2
    dark = sum(by_light["dark moonlit night"]) / 2
    assert bright > dark + 40  # the A/B shows a real, measurable difference
