"""Ratings and pairwise votes as MLflow feedback on the generations' traces, synced once each."""

from __future__ import annotations

import time

import pytest

from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.feedback import sync_feedback
from veolab.tracking.rating import rate
from veolab.tracking.store import Tracker
from veolab.tracking.traces import Timeline, flush, log_trace


def _generation(tracker: Tracker, exp: str) -> str:
    run_id = tracker.client.create_run(exp, tags={S.KIND: S.KIND_GENERATION}).info.run_id
    t0 = time.time() - 30
    tl = Timeline()
    tl.add("generate", t0, t0 + 20)
    log_trace(tracker, exp, run_id, tl)
    tracker.client.set_terminated(run_id, "FINISHED")
    return run_id


def _feedback(tracker: Tracker, run_id: str, name: str) -> list:
    flush()
    trace_id = tracker.client.get_run(run_id).data.tags[S.TRACE_ID]
    trace = tracker.client.get_trace(trace_id)
    return [a for a in trace.info.assessments if a.name == name]


def test_a_rating_becomes_human_feedback_once():
    tracker = Tracker()
    exp = tracker.experiment_id("feedback-test")
    run_id = _generation(tracker, exp)
    rate(run_id, 4, note="crisp fox", tracker=tracker, reviewer="ana")

    assert sync_feedback(tracker, exp) == 1
    assert sync_feedback(tracker, exp) == 0  # nothing new: nothing logged
    (fb,) = _feedback(tracker, run_id, "human_score")
    assert fb.value == 4.0
    assert fb.rationale == "crisp fox"
    assert str(fb.source.source_type) == "HUMAN" and fb.source.source_id == "ana"

    time.sleep(0.01)  # a later rating has a later timestamp
    rate(run_id, 2, tracker=tracker, reviewer="ben")
    assert sync_feedback(tracker, exp) == 1
    got = sorted((f.source.source_id, f.value) for f in _feedback(tracker, run_id, "human_score"))
    assert got == [("ana", 4.0), ("ben", 2.0)]


def test_votes_become_pairwise_feedback_on_both_generations():
    tracker = Tracker()
    exp = tracker.experiment_id("feedback-test")
    a, b = _generation(tracker, exp), _generation(tracker, exp)
    votes = [
        {
            "id": 1,
            "reviewer": "ana",
            "left_run_id": a,
            "right_run_id": b,
            "choice": "left",
            "note": "sharper",
        },
        {
            "id": 2,
            "reviewer": "ben",
            "left_run_id": b,
            "right_run_id": a,
            "choice": "tie",
            "note": None,
        },
        {
            "id": 3,
            "reviewer": "ben",
            "left_run_id": a,
            "right_run_id": b,
            "choice": "both_bad",
            "note": None,
        },
    ]
    assert sync_feedback(tracker, exp, votes) == 6
    assert sync_feedback(tracker, exp, votes) == 0
    on_a = {f.metadata[S.FEEDBACK_VOTE]: f for f in _feedback(tracker, a, "pairwise")}
    on_b = {f.metadata[S.FEEDBACK_VOTE]: f for f in _feedback(tracker, b, "pairwise")}
    assert {k: f.value for k, f in on_a.items()} == {"1": "win", "2": "tie", "3": "both_bad"}
    assert {k: f.value for k, f in on_b.items()} == {"1": "loss", "2": "tie", "3": "both_bad"}
    assert on_a["1"].rationale == "sharper" and on_a["1"].source.source_id == "ana"
    assert on_a["1"].metadata[S.FEEDBACK_OTHER_RUN] == b
    assert on_b["2"].metadata[S.FEEDBACK_SIDE] == "left"


def test_a_run_without_a_trace_gets_no_feedback():
    tracker = Tracker()
    exp = tracker.experiment_id("feedback-test")
    run_id = tracker.client.create_run(exp, tags={S.KIND: S.KIND_GENERATION}).info.run_id
    rate(run_id, 5, tracker=tracker, reviewer="ana")
    assert sync_feedback(tracker, exp) == 0


def test_an_overlong_reviewer_name_is_refused():
    tracker = Tracker()
    exp = tracker.experiment_id("feedback-test")
    run_id = tracker.client.create_run(exp, tags={S.KIND: S.KIND_GENERATION}).info.run_id
    with pytest.raises(ConfigError, match="--reviewer has 201 characters"):
        rate(run_id, 5, tracker=tracker, reviewer="x" * 201)
