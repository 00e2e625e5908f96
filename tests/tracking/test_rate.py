"""`veolab rate`: a human score and a note, round trip through MLflow into compare."""

from __future__ import annotations

import json

import pytest
from helpers import BRIGHT, DARK, NAME, invoke

from veolab.tracking.store import Tracker


def test_rate_round_trip(sweep, tmp_path):
    from veolab.tracking.rating import get_rating

    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 1)]
    r = invoke("rate", rid, "4", "--note", "the fox is sharp", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert r.output == f"Rated {rid}: 4/5 - the fox is sharp\n"
    r = invoke("rate", rid, "2.5", "--tracking-uri", uri)
    assert r.output == f"Rated {rid}: 2.5/5 (rating 2; the latest counts) - the fox is sharp\n"

    tracker = Tracker(uri)
    run = tracker.get_run(rid)
    assert run.data.metrics["human_score"] == 2.5
    assert run.data.tags["veolab.rating_note"] == "the fox is sharp"
    history = tracker.client.get_metric_history(rid, "human_score")
    assert [(m.step, m.value) for m in history] == [(0, 4.0), (1, 2.5)]
    got = get_rating(rid, tracker=tracker)
    assert (got.score, got.note, got.ratings) == (2.5, "the fox is sharp", 2)

    # a second run of the same variant, and one of the other
    invoke("rate", sweep.runs[(BRIGHT, 2)], "3.5", "--tracking-uri", uri)
    invoke("rate", sweep.runs[(DARK, 1)], "1", "-n", "too dark", "--tracking-uri", uri)
    d = json.loads(invoke("compare", NAME, "--tracking-uri", uri, "--json").output)
    assert "human_score" in d["metrics"]
    by = {g["label"]: g["metrics"]["human_score"] for g in d["groups"]}
    assert (by[BRIGHT]["n"], by[BRIGHT]["mean"]) == (2, 3.0)
    assert (by[DARK]["n"], by[DARK]["mean"]) == (1, 1.0)
    ab = [a for a in d["ab"] if a["metric"] == "human_score"][0]
    assert (ab["diff"], ab["verdict"]) == (-2.0, "too few runs")


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("0", "Error: score 0.0 is outside 1 to 5: give 1 to 5\n"),
        ("5.5", "Error: score 5.5 is outside 1 to 5: give 1 to 5\n"),
        ("nan", "Error: score nan is outside 1 to 5: give 1 to 5\n"),
    ],
)
def test_rate_rejects_scores_outside_1_to_5(sweep, tmp_path, score, message):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(DARK, 2)]
    r = invoke("rate", rid, score, "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (2, message)
    assert "human_score" not in Tracker(uri).get_run(rid).data.metrics


def test_rate_wants_a_generation_run(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    r = invoke("rate", sweep.parent_id, "3", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (
        2,
        f"Error: run {sweep.parent_id} is a sweep run, not a generation: "
        f"rate one of its child runs: veolab runs {sweep.parent_id} lists them\n",
    )
    r = invoke("rerun", sweep.parent_id[:8], "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (
        2,
        f"Error: run {sweep.parent_id} is a sweep run, not a generation: "
        f"rerun one of its child runs: veolab runs {sweep.parent_id} lists them\n",
    )
    r = invoke("rate", "0" * 32, "3", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (
        2,
        f"Error: no run '{'0' * 32}' in {uri}: copy an id from `veolab runs`, "
        "or pass --tracking-uri for another store\n",
    )
    r = invoke("rate", sweep.runs[(DARK, 2)], "great", "--tracking-uri", uri)
    assert r.exit_code == 2
    assert "'great' is not a valid float" in r.output


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["rate", "61a0a5f9e2b74c5e9c8a1d3f4b5a6c7d", "4"],
        ["rerun", "61a0a5f9e2b74c5e9c8a1d3f4b5a6c7d", "--yes"],
        ["compare", "some-experiment"],
    ],
    ids=["rate", "rerun", "compare"],
)
def test_an_unreachable_store_is_exit_3_for_every_command(args):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = invoke(*args, "--tracking-uri", f"http://127.0.0.1:{port}")
    assert r.exit_code == 3, r.output
    assert "is the server running?" in r.stderr
    assert r.stderr.count("\n") == 1
