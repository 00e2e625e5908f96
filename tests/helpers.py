"""Helpers several test modules share: the CLI runner, a small project on `veolab sim serve`,
MLflow lookups, and the simulator sweep that compare, report, rerun, rate and the MLflow UI tests
read (made once per session; the ``sweep`` fixture in conftest.py hands it out).

Clips built frame by frame live in ``media.py``; the browser in ``browser.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import mlflow
import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.runner import RunOptions, plan_experiment, run_plan
from veolab.simserver import fetch_ledger, serve_in_subprocess
from veolab.tracking import schema as S


def invoke(*args: str):
    """Run the CLI in-process, 200 columns wide (no wrapping in the asserted output)."""
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


def plan_json(path: Path) -> dict:
    """`veolab plan PATH --json`, parsed; the plan must succeed."""
    r = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# --- a project on the Segmind protocol (`veolab sim serve`) ---------------------------------

SEGMIND_EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: a red fox
  lighting: [bright sunny day, soft morning light]
params: {{resolution: 720p, duration: 4}}
seeds: {seeds}
concurrency: 2
provider: {{name: segmind, mode: queue, base_url: "{url}",
           poll_interval: {poll[0]}, poll_max_interval: {poll[1]}}}
{extra}
"""


def segmind_project(
    tmp: Path,
    url: str,
    name: str,
    seeds: str = "[1]",
    extra: str = "",
    *,
    poll: tuple[float, float] = (0.05, 0.2),
    folder: str = "",
) -> Path:
    """Write ``prompts/q.j2`` and ``<folder>/<name>.yaml`` (2 lighting variants x ``seeds``,
    720p 4 s, the segmind provider in queue mode at ``url``) under ``tmp``; return the file."""
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} on a beach, {{ lighting }}")
    where = tmp / folder if folder else tmp
    where.mkdir(exist_ok=True)
    path = where / f"{name}.yaml"
    path.write_text(
        SEGMIND_EXPERIMENT.format(name=name, url=url, seeds=seeds, extra=extra, poll=poll)
    )
    return path


def use_segmind_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Set ``SEGMIND_API_KEY`` and point the mlflow client at the test's store."""
    monkeypatch.setenv("SEGMIND_API_KEY", key)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


# --- a project on another host's protocol, and a sweep killed part-way ----------------------

HOST_EXPERIMENT = """\
name: {name}
template: q.j2
vars:
  subject: {subjects}
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: {seeds}
concurrency: 2
provider: {{name: {provider}, base_url: "{url}", poll_interval: 0.05,
           poll_max_interval: 0.2{extra}}}
"""


def host_project(
    tmp: Path, provider: str, url: str, name: str, subjects: str, seeds: str, extra: str = ""
) -> Path:
    """Write ``prompts/q.j2`` ("{{ subject }} by the sea") and ``<name>.yaml`` (``subjects`` x
    ``seeds``, 720p 4 s silent, ``provider`` at ``url`` with ``extra`` provider settings such as
    ``", model: veo-3.1-fast"``) under ``tmp``; return the file."""
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} by the sea")
    path = tmp / f"{name}.yaml"
    path.write_text(
        HOST_EXPERIMENT.format(
            name=name, provider=provider, url=url, subjects=subjects, seeds=seeds, extra=extra
        )
    )
    return path


def sigkill_then_resume(
    tmp: Path, provider: str, key_env: str, key: str, name: str, extra: str = ""
) -> None:
    """A 12-run sweep on ``provider`` (against ``veolab sim serve`` in its own process, 1.5 s a
    job) killed with SIGKILL part-way, then run again in process: every request is billed at
    most once, the jobs the killed sweep had named are fetched by id rather than submitted
    again, and every run ends FINISHED or outcome-unknown, not both."""
    env = {**os.environ, key_env: key}
    with serve_in_subprocess("--api-key", key, "--latency", "1.5") as url:
        # 12 runs at concurrency 2: the kill lands part-way through
        path = host_project(
            tmp, provider, url, name, "[a red fox, a grey gull]", "[1, 2, 3, 4, 5, 6]", extra
        )
        store = Path(os.environ["VEOLAB_HOME"]) / "store" / provider / "veo-3.1"
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
        # jobs the killed sweep had named were fetched again by id, not submitted again
        assert ledger["counts"]["submit"] - submits_before <= 12 - done_before
        finished = {x.data.tags[S.REQUEST_HASH] for x in generations(name, "FINISHED")}
        unknown = {r.request_hash for r in result.unknown}
        assert finished | unknown == {r.request_hash for r in plan.runs}
        assert not finished & unknown
        assert result.exit_code == (1 if unknown else 0)


def generations(name: str, status: str | None = None) -> list:
    """The generation runs of experiment ``name`` (with ``status`` only, when given)."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        return []
    flt = f"tags.`{S.KIND}` = 'generation'"
    if status:
        flt += f" AND attributes.status = '{status}'"
    return mlflow.search_runs([exp.experiment_id], filter_string=flt, output_format="list")


def all_runs(name: str) -> list:
    """Every run of experiment ``name``: sweeps and generations."""
    exp = mlflow.get_experiment_by_name(name)
    return mlflow.search_runs([exp.experiment_id], output_format="list") if exp else []


class StubAnalysis:
    """Enough of an AnalysisResult to log a run without decoding anything."""

    passed = True
    checks: list = []
    thumbnails: list = []

    def __init__(self, metrics: dict[str, float]):
        self.metrics = metrics

    def numeric_metrics(self):
        return self.metrics

    def write_images(self, folder):
        return []

    def to_dict(self):
        return {"probe": {}, "metrics": self.metrics, "checks": [], "passed": True}


# --- the shared simulator sweep ------------------------------------------------------------

NAME = "cmp-e2e"
BRIGHT, DARK = "lighting=bright sunny morning light", "lighting=dark moonlit night"
EXPERIMENT = f"""\
name: {NAME}
template: scene.j2
vars:
  subject: a red fox
  lighting: [bright sunny morning light, dark moonlit night]
params:
  resolution: 720p
  duration: 4
  generate_audio: true
seeds: [1, 2, 3]
provider:
  name: sim
concurrency: 2
"""
TEMPLATE = "{{ subject }} walking along a blue shoreline, {{ lighting }}, gentle waves\n"


@dataclass
class SharedSweep:
    root: Path
    uri: str
    experiment_id: str
    parent_id: str
    runs: dict[tuple[str, int], str] = field(default_factory=dict)  # (label, seed) -> run id

    def isolated(self, tmp_path: Path) -> str:
        """A tracking URI on a copy of the sweep's database (artifacts stay shared, read-only)."""
        db = tmp_path / "iso-mlruns" / "mlflow.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / "mlruns" / "mlflow.db", db)
        return f"sqlite:///{db}"


_CACHE: dict[str, SharedSweep] = {}


def shared_sweep(tmp_path_factory: pytest.TempPathFactory) -> SharedSweep:
    """Run the experiment (2 lighting variants x 3 seeds, 720p 4 s) once per session and
    remember its run ids. Tests that write to MLflow work on :meth:`SharedSweep.isolated`."""
    if "sweep" in _CACHE:
        return _CACHE["sweep"]
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan
    from veolab.tracking.store import Tracker

    root = tmp_path_factory.mktemp("cmp-sweep")
    (root / "prompts").mkdir()
    (root / "prompts" / "scene.j2").write_text(TEMPLATE)
    (root / "exp.yaml").write_text(EXPERIMENT)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = {"VEOLAB_HOME": str(root / "home"), "MLFLOW_TRACKING_URI": uri}
    with mock.patch.dict(os.environ, env):
        result = run_plan(
            plan_experiment(load_experiment(root / "exp.yaml")), RunOptions(tracking_uri=uri)
        )
    assert result.counts["failed"] == 0, result.outcomes
    tracker = Tracker(uri)
    sweep = SharedSweep(root, uri, result.experiment_id, result.parent_run_id)
    for run in tracker.search(result.experiment_id, "tags.`veolab.kind` = 'generation'"):
        t = run.data.tags
        sweep.runs[(t["veolab.variant_label"], int(t["veolab.seed"]))] = run.info.run_id
    assert len(sweep.runs) == 6
    _CACHE["sweep"] = sweep
    return sweep
