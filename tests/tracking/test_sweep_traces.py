"""What a sweep writes for MLflow's GenAI views: one trace per generation with the pipeline's
stages (a failed stage in ERROR on a FAILED run), and every run linked to the Prompt Registry
version of the template it rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import generations, segmind_project, use_segmind_key

from veolab.cli import cli
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker
from veolab.tracking.traces import flush

KEY = "traces-key-0000"


def _trace(tracker: Tracker, run) -> object:
    flush()
    return tracker.client.get_trace(run.data.tags[S.TRACE_ID])


def test_each_generation_has_a_trace_of_its_stages_and_a_prompt_version(sweep):
    tracker = Tracker(sweep.uri)
    runs = [tracker.get_run(rid) for rid in sweep.runs.values()]
    versions = tracker.client.search_prompt_versions("veolab.scene")
    assert [int(v.version) for v in versions] == [1]  # one template, one content: one version
    assert versions[0].tags[S.PROMPT_SHA256] == runs[0].data.tags[S.TEMPLATE_SHA256]
    for run in runs:
        assert run.data.tags[S.PROMPT] == "prompts:/veolab.scene/1"
        linked = json.loads(run.data.tags["mlflow.linkedPrompts"])
        assert linked == [{"name": "veolab.scene", "version": "1"}]
        trace = _trace(tracker, run)
        assert trace.info.request_metadata["mlflow.sourceRun"] == run.info.run_id
        names = [s.name for s in trace.data.spans]
        assert names[0] == "generation"
        assert {"render", "claim", "generate", "verify", "analyse", "store", "log"} <= set(names)
        root = trace.data.spans[0]
        assert root.attributes["veolab.host"] == "sim"
        assert root.attributes["veolab.seed"] == int(run.data.tags[S.SEED])
        assert root.attributes["veolab.cost_usd"] == 0.0
        assert root.attributes["veolab.prompt"] == "prompts:/veolab.scene/1"
        analyse = next(s for s in trace.data.spans if s.name == "analyse")
        assert analyse.attributes["checks_passed"] is True
    # the version lists the traces that rendered it, and the prompt is on the experiment's page
    linked = tracker.client.search_traces(
        locations=[sweep.experiment_id], filter_string="prompt = 'veolab.scene/1'"
    )
    assert sorted(t.info.trace_id for t in linked) == sorted(r.data.tags[S.TRACE_ID] for r in runs)
    experiments = tracker.client.get_prompt("veolab.scene").tags["_mlflow_experiment_ids"]
    assert f",{sweep.experiment_id}," in experiments
    parent = tracker.get_run(sweep.parent_id)
    assert json.loads(parent.data.tags["mlflow.linkedPrompts"]) == [
        {"name": "veolab.scene", "version": "1"}
    ]


@pytest.mark.slow
def test_a_failed_generation_has_a_trace_with_the_failing_stage(
    tmp_path: Path, sim_server, monkeypatch
) -> None:
    use_segmind_key(monkeypatch, KEY)
    srv = sim_server(api_key=KEY)
    path = segmind_project(tmp_path, srv.base_url, "broken", seeds="[1]")
    # every download fails: billed, output not obtained
    srv.inject_faults({"route": "file", "status": 404, "message": "Not found", "count": 20})
    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1, r.output
    tracker = Tracker()
    failed = generations("broken", "FAILED")
    assert len(failed) == 2
    for run in failed:
        trace = _trace(tracker, run)
        assert str(trace.info.state).endswith("ERROR")
        bad = [s for s in trace.data.spans if str(s.status.status_code).endswith("ERROR")]
        assert [s.name for s in bad] == ["generation", "submit"]  # the root fails with it
        assert "OutputNotObtainedError" in bad[1].events[0].attributes["exception.message"]
        assert trace.data.spans[0].attributes["veolab.cost_usd"] == 1.6  # billed, counted


def test_tracing_off_writes_no_trace(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VEOLAB_TRACING", "0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.j2").write_text("{{ subject }} at dusk")
    (tmp_path / "e.yaml").write_text(
        "name: untraced\ntemplate: p.j2\nvars: {subject: a fox}\n"
        "params: {resolution: 720p, duration: 4, generate_audio: false}\n"
        "seeds: [1]\nprovider: {name: sim}\n"
    )
    r = CliRunner().invoke(cli, ["run", "e.yaml"])
    assert r.exit_code == 0, r.output
    (run,) = generations("untraced")
    assert S.TRACE_ID not in run.data.tags
    assert run.data.tags[S.PROMPT] == "prompts:/veolab.p/1"  # the registry does not depend on it


def test_a_rerun_has_its_own_trace_and_the_original_prompt_version(sweep, tmp_path):
    from helpers import BRIGHT, invoke

    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 2)]
    r = invoke("rerun", rid, "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output[r.output.index("{") :])
    tracker = Tracker(uri)
    child = tracker.get_run(d["reruns"][0]["run_id"])
    assert child.data.tags[S.PROMPT] == "prompts:/veolab.scene/1"
    trace = _trace(tracker, child)
    assert trace.info.request_metadata["mlflow.sourceRun"] == child.info.run_id
    names = {s.name for s in trace.data.spans}
    assert {"claim", "generate", "verify", "analyse", "store", "log"} <= names
    assert trace.data.spans[0].attributes["veolab.seed"] == 2
    # its own trace, not the original's
    assert child.data.tags[S.TRACE_ID] != tracker.get_run(rid).data.tags[S.TRACE_ID]
