"""``veolab review --ranking``, its bad inputs, ``veolab compare`` with votes, and the review's
MLflow run (review/mlflow_log.py), on the session's simulator sweep."""

from __future__ import annotations

import json
import random

import pytest
from helpers import BRIGHT, DARK, NAME, invoke

from veolab.compare.runs import load_runs
from veolab.review.mlflow_log import log_review, slugs
from veolab.review.serve import is_loopback, token_for
from veolab.review.session import ReviewSession
from veolab.tracking import schema as S
from veolab.tracking.store import existing_store

# (reviewer, choice) in turn; each vote on the next pair the session serves
VOTES = [("ann", "left"), ("ann", "right"), ("ann", "tie"), ("bob", "both_bad"), ("bob", "left")]


def cast(uri: str, by: str = "variant") -> ReviewSession:
    tracker = existing_store(uri)
    session = ReviewSession(
        load_runs(NAME, tracker=tracker), by=by, tracker=tracker, rng=random.Random(3)
    )
    for reviewer, choice in VOTES:
        pair = session.next_pair(reviewer)
        session.vote(pair["pair"], reviewer, choice, note="<script>x</script>")
    return session


def test_ranking_without_votes_creates_nothing(sweep, clean_env):
    r = invoke("review", NAME, "--ranking", "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    assert r.output == (
        "ranking by variant: 0 votes\nno votes yet: veolab review cmp-e2e to cast some\n"
    )
    assert not (clean_env / "veolab-home" / "ledger.db").exists()
    r = invoke("compare", NAME, "--json", "--tracking-uri", sweep.uri)
    assert json.loads(r.stdout)["ranking"] is None


@pytest.mark.slow
def test_ranking_table_json_and_compare(sweep):
    cast(sweep.uri).close()
    r = invoke("review", NAME, "--ranking", "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "ranking by variant: 5 votes from 2 reviewers (ann 3, bob 2)"
    header = ["group", "score", "[95%", "CI]", "wins", "losses", "ties", "bad", "votes"]
    assert lines[1].split() == ["both"] and lines[2].split() == header
    rows = [line for line in lines if line.startswith("lighting=")]
    assert sorted(row.split("  ")[0] for row in rows) == sorted([BRIGHT, DARK])
    assert "agreement:" in r.output

    store = ("--tracking-uri", sweep.uri)
    data = json.loads(invoke("review", NAME, "--ranking", "--json", *store).stdout)
    assert data["votes"] == 5 and data["comparisons"] == 4
    assert [g["n"] for g in data["groups"]] == [5, 5]
    assert sum(g["wins"] for g in data["groups"]) == 3
    assert data["reviewers"] == [{"reviewer": "ann", "votes": 3}, {"reviewer": "bob", "votes": 2}]

    by_var = invoke("review", NAME, "--ranking", "--by", "var.lighting", *store)
    assert by_var.output.startswith("ranking by var.lighting: 5 votes")
    assert "bright sunny morning light " in by_var.output  # var.lighting= dropped from labels

    r = invoke("compare", NAME, "--tracking-uri", sweep.uri)
    assert r.exit_code == 0
    assert "\nranking by variant: 5 votes from 2 reviewers" in r.output
    compared = json.loads(invoke("compare", NAME, "--json", "--tracking-uri", sweep.uri).stdout)
    assert compared["ranking"]["groups"] == data["groups"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json"], "Error: --json goes with --ranking"),
        (["--reviewer", "  "], "Error: a reviewer name is required"),
        (["--reviewer", "x" * 101], "Error: the reviewer name has 101 characters"),
        (["--token", " "], "Error: --token is empty"),
        (["--by", "nope"], "Error: --by 'nope' is not a key of these runs"),
        (["--by", "resolution"], "Error: experiment 'cmp-e2e' has 1 group(s) by resolution"),
        (["--port", "70000"], "Error: Invalid value for '--port'"),
    ],
)
def test_bad_inputs_are_one_line_exit_2(sweep, clean_env, args, message):
    r = invoke("review", NAME, "--tracking-uri", sweep.uri, *args)
    assert r.exit_code == 2, r.output
    assert r.output.startswith(message), r.output
    assert len(r.output.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_an_unknown_experiment(sweep):
    r = invoke("review", "nope", "--tracking-uri", sweep.uri)
    assert r.exit_code == 2 and r.output.startswith("Error: no experiment or sweep run named")


def test_a_token_unless_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert token_for("127.0.0.1", None) is None
    assert token_for("127.0.0.1", "mine") == "mine"
    assert token_for("0.0.0.0", "mine") == "mine"
    made = token_for("0.0.0.0", None)
    assert made and len(made) >= 20 and made != token_for("0.0.0.0", None)


def test_slugs_are_metric_names():
    got = slugs([BRIGHT, "a/b", "a b", "..", "x" * 200])
    assert got[BRIGHT] == "lighting_bright_sunny_morning_light"
    assert (got["a/b"], got["a b"], got[".."]) == ("a_b", "a_b_2", "group")
    assert len(got["x" * 200]) == 80


@pytest.mark.slow
def test_the_review_run_in_mlflow(sweep, tmp_path):
    import mlflow

    uri = sweep.isolated(tmp_path)
    session = cast(uri)
    run_id = log_review(session)
    session.close()
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[S.KIND] == S.KIND_REVIEW and run.data.tags[S.REVIEW_BY] == "variant"
    m = run.data.metrics
    assert m[S.REVIEW_VOTES] == 5 and m[S.REVIEW_REVIEWERS] == 2
    slug = slugs([BRIGHT])[BRIGHT]
    assert run.data.params[f"group/{slug}"] == BRIGHT
    for name in (S.BT_SCORE, S.BT_LO, S.BT_HI, S.WIN_RATE, S.BOTH_BAD_RATE):
        assert f"{name}/{slug}" in m
    assert m[f"{S.BOTH_BAD_RATE}/{slug}"] == pytest.approx(1 / 5)
    assert {a.path for a in client.list_artifacts(run_id)} == {S.ART_VOTES, S.ART_RANKING}
    votes_csv = client.download_artifacts(run_id, S.ART_VOTES, str(tmp_path))
    rows = open(votes_csv).read().splitlines()
    assert rows[0].startswith("id,time,reviewer,pair,by,left_run_id")
    assert len(rows) == 6 and "<script>x</script>" in rows[1]
    wins = losses = ties = both_bad = 0
    for rid in sweep.runs.values():
        gm = client.get_run(rid).data.metrics
        wins += gm.get(S.REVIEW_WINS, 0)
        losses += gm.get(S.REVIEW_LOSSES, 0)
        ties += gm.get(S.REVIEW_TIES, 0)
        both_bad += gm.get(S.REVIEW_BOTH_BAD, 0)
    assert (wins, losses, ties, both_bad) == (3, 3, 2, 2)


def test_a_port_in_use_is_one_line(sweep):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = invoke("review", NAME, "--port", str(port), "--tracking-uri", sweep.uri)
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert r.output.rstrip().endswith("(choose another --port, or --port 0 for any free one)")


def test_names_are_printed_as_given():
    from veolab.review.ranking import rank_votes
    from veolab.review.render import ranking_text
    from veolab.review.session import ranking_payload
    from veolab.review.votes import Vote

    who = "[bold]eve[/bold]"
    vote = Vote(1, "e", who, 0.0, "p", "variant", "a", "b", "[red]A", "B", "left", None)
    payload = ranking_payload("e", "variant", [vote], rank_votes([("[red]A", "B", "left")]))
    text = ranking_text(payload, width=100)
    assert "from 1 reviewer ([bold]eve[/bold] 1)" in text
    assert "\n[red]A " in text


@pytest.mark.slow
def test_compare_keeps_the_ranking_of_the_same_votes(sweep, clean_env):
    """The fit and its bootstrap are kept by what they are computed from: the same votes give
    the kept numbers, a new vote computes them again."""
    session = cast(sweep.uri)
    store = ("--tracking-uri", sweep.uri)
    first = json.loads(invoke("compare", NAME, "--json", *store).stdout)["ranking"]
    kept = list((clean_env / "veolab-home" / "cache" / "rankings").glob("*.json"))
    assert len(kept) == 1
    assert json.loads(invoke("compare", NAME, "--json", *store).stdout)["ranking"] == first
    pair = session.next_pair("cy")
    session.vote(pair["pair"], "cy", "left")
    session.close()
    after = json.loads(invoke("compare", NAME, "--json", *store).stdout)["ranking"]
    assert after["votes"] == first["votes"] + 1
    assert len(list(kept[0].parent.glob("*.json"))) == 2
