"""One trace per generation: the timeline's stages as spans, linked to the generation's run."""

from __future__ import annotations

import time

import pytest

from veolab.tracking.store import Tracker
from veolab.tracking.traces import Timeline, enabled, flush, log_trace


def _timeline(fail_verify: bool = False) -> Timeline:
    t0 = time.time() - 60
    tl = Timeline()
    tl.add("claim", t0, t0 + 0.01)
    tl.add("submit", t0 + 0.01, t0 + 0.5, job_id="sim-1")
    tl.add("generate", t0 + 0.5, t0 + 40, seed=42)
    tl.add("download", t0 + 40, t0 + 41, bytes=123456)
    tl.add(
        "verify", t0 + 41, t0 + 41.1, error="InvalidOutputError: no moov" if fail_verify else None
    )
    return tl


def _trace(tracker: Tracker, trace_id: str):
    flush()
    return tracker.client.get_trace(trace_id)


def test_stages_become_spans_under_one_root_on_the_run():
    tracker = Tracker()
    exp = tracker.experiment_id("traces-test")
    run_id = tracker.client.create_run(exp).info.run_id
    tid = log_trace(tracker, exp, run_id, _timeline(), attributes={"veolab.cost_usd": 0.8})
    assert tid is not None
    trace = _trace(tracker, tid)
    assert trace.info.request_metadata["mlflow.sourceRun"] == run_id
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"generation", "claim", "submit", "generate", "download", "verify"}
    root = spans["generation"]
    assert all(s.parent_id == root.span_id for n, s in spans.items() if n != "generation")
    assert root.attributes["veolab.cost_usd"] == 0.8
    assert spans["generate"].attributes["seed"] == 42
    # the generate span lasts what the stage took (39.5 s), not the time it took to log it
    assert (spans["generate"].end_time_ns - spans["generate"].start_time_ns) / 1e9 == pytest.approx(
        39.5, abs=1e-3
    )
    assert str(trace.info.state).endswith("OK")


def test_a_failed_stage_is_an_error_span_with_its_message():
    tracker = Tracker()
    exp = tracker.experiment_id("traces-test")
    run_id = tracker.client.create_run(exp).info.run_id
    tid = log_trace(tracker, exp, run_id, _timeline(fail_verify=True))
    trace = _trace(tracker, tid)
    verify = next(s for s in trace.data.spans if s.name == "verify")
    assert str(verify.status.status_code).endswith("ERROR")
    assert verify.events[0].attributes["exception.message"] == "InvalidOutputError: no moov"
    assert str(trace.info.state).endswith("ERROR")


def test_span_records_a_failing_block_and_reraises():
    tl = Timeline()
    with pytest.raises(ValueError), tl.span("analyse"):
        raise ValueError("bad frame")
    assert tl.stages[0].name == "analyse" and tl.stages[0].error == "ValueError: bad frame"
    assert tl.stages[0].end >= tl.stages[0].start


def test_an_empty_timeline_writes_nothing():
    tracker = Tracker()
    assert log_trace(tracker, "0", "no-run", Timeline()) is None


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("off", False)])
def test_tracing_can_be_turned_off(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("VEOLAB_TRACING", raising=False)
    else:
        monkeypatch.setenv("VEOLAB_TRACING", value)
    assert enabled() is on


def test_the_run_is_tagged_with_its_trace_and_the_trace_id_is_known_before_it_is_stored():
    from veolab.tracking import schema as S

    tracker = Tracker()
    exp = tracker.experiment_id("traces-test")
    run_id = tracker.client.create_run(exp).info.run_id
    tl = _timeline()
    known = tl.trace_id  # what a run logged with run_tags(tl) carries
    assert known.startswith("tr-") and len(known) == 35
    assert log_trace(tracker, exp, run_id, tl) == known
    assert _trace(tracker, known).info.trace_id == known
    assert tracker.get_run(run_id).data.tags[S.TRACE_ID] == known


def test_a_trace_that_cannot_be_stored_is_a_warning_not_an_exception():
    tracker = Tracker()
    run_id = tracker.client.create_run(tracker.experiment_id("traces-test")).info.run_id
    tid = log_trace(tracker, "987654", run_id, _timeline())  # no such experiment
    warnings: list[str] = []
    flush(warnings)
    assert len(warnings) == 1 and f"trace of run {run_id} not written" in warnings[0]
    with pytest.raises(Exception, match="not found|does not exist|No Experiment"):
        tracker.client.get_trace(tid)
    flush(warnings)  # reported once
    assert len(warnings) == 1
