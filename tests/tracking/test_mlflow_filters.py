"""What a reviewer sees in MLflow, checked through MLflow's own API on a real sweep's store: the
experiment's kind (the runs view), compact run names, a generation's own start and end, and the
filters docs/mlflow.md gives, each returning exactly the runs it claims."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from helpers import BRIGHT, DARK, NAME, StubAnalysis

from veolab.tracking import schema as S
from veolab.tracking.store import Tracker

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mlflow.md"


def _search(uri: str, flt: str) -> list[str]:
    """``mlflow.search_runs`` as a user runs it, on the store at ``uri``."""
    mlflow.set_tracking_uri(uri)  # each time: every test sets MLFLOW_TRACKING_URI of its own
    try:
        df = mlflow.search_runs(experiment_names=[NAME], filter_string=flt)
    finally:
        mlflow.set_tracking_uri(None)
    return sorted(df["run_id"]) if len(df) else []


def test_the_sweep_opens_on_the_runs_view_with_compact_names(sweep):
    client = Tracker(sweep.uri).client
    exp = client.get_experiment(sweep.experiment_id)
    assert exp.tags[S.EXPERIMENT_KIND] == S.EXPERIMENT_KIND_RUNS == "custom_model_development"
    names = {key: client.get_run(rid).info.run_name for key, rid in sweep.runs.items()}
    assert names == {(label, seed): f"{label[9:].split()[0]} s{seed}" for label, seed in names}
    assert names[(DARK, 2)] == "dark s2" and names[(BRIGHT, 3)] == "bright s3"


def test_a_generation_run_spans_its_generation_not_its_logging(sweep, tmp_path):
    """start = the submit, end = the video in hand (both kept with the video and in
    response.json); the provider's own latency lies inside; logging came after."""
    tracker = Tracker(sweep.uri)
    for rid in sweep.runs.values():
        run = tracker.get_run(rid)
        meta = json.loads(tracker.download(rid, S.ART_RESPONSE, tmp_path / rid).read_text())
        start, end = run.info.start_time, run.info.end_time
        assert (start, end) == (int(meta["started_at"] * 1000), int(meta["finished_at"] * 1000))
        assert end - start >= run.data.metrics[S.LATENCY_TOTAL] * 1000 - 2  # ms truncation
        logged = tracker.client.get_metric_history(rid, S.CHECKS_PASSED)[0].timestamp
        assert end <= logged


@pytest.fixture(scope="module")
def reviewed(sweep, tmp_path_factory):
    """The sweep's store copied, with what review adds: a real rerun of (bright, 1) by the sim
    provider, a failed generation and one that failed two checks (both of the dark variant)."""
    from veolab.errors import ProviderError
    from veolab.request import VideoRequest
    from veolab.runner.rerun import execute_rerun, plan_rerun
    from veolab.tracking.generation import GenerationRecord, log_failure, log_generation

    tmp = tmp_path_factory.mktemp("reviewed")
    uri = sweep.isolated(tmp)
    tracker = Tracker(uri)
    # an experiment made before veolab tagged them: the rerun tags it
    tracker.client.delete_experiment_tag(sweep.experiment_id, S.EXPERIMENT_KIND)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VEOLAB_HOME", str(tmp / "home"))
        rerun = execute_rerun(plan_rerun(sweep.runs[(BRIGHT, 1)], tracker=tracker), tracker=tracker)
    assert rerun.exit_code == 0, rerun.reruns

    dark = tracker.get_run(sweep.runs[(DARK, 1)])
    record = GenerationRecord(
        VideoRequest(prompt="a dark stage", resolution="720p", duration=4, seed=9),
        "sim",
        "veo-3.1",
        variant_id=dark.data.tags[S.VARIANT],
        variant_label=DARK,
        vars={"lighting": "dark moonlit night"},
        short_label="dark",
    )
    bad = StubAnalysis({"brightness_mean": 3.0})
    bad.passed = False
    bad.checks = [
        SimpleNamespace(name="black_segments", passed=False),
        SimpleNamespace(name="audio_not_silent", passed=False),
        SimpleNamespace(name="duration", passed=True),
    ]
    bad_id = log_generation(tracker, sweep.experiment_id, sweep.parent_id, record, b"v", bad, None)
    failed_id = log_failure(
        tracker, sweep.experiment_id, sweep.parent_id, record, ProviderError("refused")
    )
    tracker.append_metric(sweep.runs[(DARK, 3)], S.HUMAN_SCORE, 5)
    tracker.append_metric(sweep.runs[(BRIGHT, 3)], S.HUMAN_SCORE, 3)
    return SimpleNamespace(
        uri=uri,
        tracker=tracker,
        rerun=rerun,
        rerun_child=rerun.reruns[0].run_id,
        bad=bad_id,
        failed=failed_id,
        variant=dark.data.tags[S.VARIANT],
    )


@pytest.mark.slow
def test_a_rerun_tags_an_old_experiment_and_is_named_after_its_original(sweep, reviewed):
    client = reviewed.tracker.client
    assert client.get_experiment(sweep.experiment_id).tags[S.EXPERIMENT_KIND] == (
        S.EXPERIMENT_KIND_RUNS
    )
    assert client.get_run(reviewed.rerun_child).info.run_name == "bright s1 rerun"
    assert client.get_run(reviewed.rerun.parent_run_id).info.run_name == "rerun of bright s1"


def _documented_filters() -> dict[str, str]:
    """The filter table of docs/mlflow.md: what each row says it shows -> its filter."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        )
        if len(cells) == 2 and cells[1].startswith("``"):
            rows[cells[0]] = cells[1].strip("`").strip()
    return rows


@pytest.mark.slow
def test_each_documented_filter_returns_exactly_its_runs(sweep, reviewed):
    sweep_runs = set(sweep.runs.values())
    dark = {sweep.runs[(DARK, s)] for s in (1, 2, 3)} | {reviewed.bad, reviewed.failed}
    original = sweep.runs[(BRIGHT, 1)]
    # every run of the experiment: the sweep, the rerun parent and child, two more generations
    assert len(_search(reviewed.uri, "")) == 1 + 6 + 2 + 2
    expected = {
        "generations only": sweep_runs | {reviewed.bad, reviewed.failed},
        "reruns only": {reviewed.rerun_child},
        "one variant": dark,
        "one variant, by the value of a variable": dark,
        "one seed": {sweep.runs[(BRIGHT, 2)], sweep.runs[(DARK, 2)]},
        "runs that failed a check": {reviewed.bad},
        "one failed check": {reviewed.bad},
        "generations that failed": {reviewed.failed},
        "the reruns of one run": {reviewed.rerun_child},
        "rated 4 or better": {sweep.runs[(DARK, 3)]},
    }
    documented = _documented_filters()
    assert set(documented) == set(expected)
    assert documented["generations only"] == S.FILTER_GENERATIONS
    assert documented["reruns only"] == S.FILTER_RERUNS
    for what, flt in documented.items():
        flt = flt.replace("<variant id>", reviewed.variant).replace("<run id>", original)
        assert _search(reviewed.uri, flt) == sorted(expected[what]), what
    # the filter the docs gave before let the rerun in (and, in the UI, its parent with it)
    assert reviewed.rerun_child in _search(reviewed.uri, "tags.`veolab.kind` = 'generation'")
