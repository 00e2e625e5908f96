"""The review server's JSON API (review/app.py), over real HTTP to the server (review/serve.py)
on 127.0.0.1 in a thread, on the session's simulator sweep (2 lighting variants x 3 seeds:
three same-seed pairs) and a real ledger under tmp_path."""

from __future__ import annotations

import contextlib
import json
import random

import httpx
import pytest
from helpers import BRIGHT, DARK, NAME

from veolab.compare.runs import load_runs
from veolab.review.app import BODY_MAX, STATIC
from veolab.review.serve import serve_in_thread
from veolab.review.session import ReviewSession
from veolab.review.votes import VoteStore
from veolab.tracking.store import existing_store


@pytest.fixture
def session(sweep):
    tracker = existing_store(sweep.uri)
    s = ReviewSession(load_runs(NAME, tracker=tracker), tracker=tracker, rng=random.Random(1))
    yield s
    s.close()


@contextlib.contextmanager
def served(session, **options):
    """An HTTP client on a review server of ``session`` (stopped after)."""
    with serve_in_thread(session, **options) as server:
        with httpx.Client(base_url=server.base_url, timeout=120) as c:
            yield c


@pytest.fixture
def client(session):
    with served(session) as c:
        yield c


def stored() -> list:
    store = VoteStore()
    try:
        return store.votes(NAME)
    finally:
        store.close()


def test_config(client):
    r = client.get("/api/config")
    assert r.status_code == 200
    assert r.json() == {
        "experiment": NAME,
        "by": "variant",
        "reviewer": None,
        "groups_hidden": True,
        "groups": 2,
        "pairs": 3,
    }


def test_pair_vote_reveal(client, sweep):
    r = client.get("/api/pair", params={"reviewer": "ann"})
    assert r.status_code == 200
    pair = r.json()
    left, right = pair["left"]["run_id"], pair["right"]["run_id"]
    runs = {v: k for k, v in sweep.runs.items()}
    assert {runs[left][0], runs[right][0]} == {BRIGHT, DARK}  # one of each group
    assert runs[left][1] == runs[right][1] == pair["seed"]  # the same seed
    assert pair["left"]["video"] == f"/video/{left}"
    assert "group" not in json.dumps(pair)  # groups stay hidden until the vote
    progress = {"reviewer": "ann", "votes": 0, "seen": 1, "pairs": 3, "all_votes": 0}
    assert pair["progress"] == progress

    r = client.post("/api/vote", json={"pair": pair["pair"], "reviewer": "ann", "choice": "left"})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    assert body["left"] == {"run_id": left, "group": runs[left][0]}
    assert body["right"] == {"run_id": right, "group": runs[right][0]}
    assert body["progress"]["votes"] == 1 and body["progress"]["all_votes"] == 1
    [v] = stored()
    assert (v.reviewer, v.left_run_id, v.right_run_id, v.choice, v.note) == (
        "ann",
        left,
        right,
        "left",
        None,
    )
    assert (v.left_group, v.right_group) == (runs[left][0], runs[right][0])


def test_a_reviewer_sees_every_pair_before_a_repeat_and_a_reload_resumes(client):
    seen = []
    for i in range(3):
        pair = client.get("/api/pair?reviewer=ann").json()
        again = client.get("/api/pair?reviewer=ann").json()  # a reload: the same pair
        assert again["pair"] == pair["pair"] and again["resumed"] is True
        assert again["left"] == pair["left"]  # sides as first shown
        assert not pair["repeat"]
        seen.append(frozenset((pair["left"]["run_id"], pair["right"]["run_id"])))
        choice = ["left", "tie", "both_bad"][i]
        vote = {"pair": pair["pair"], "reviewer": "ann", "choice": choice}
        r = client.post("/api/vote", json=vote)
        assert r.status_code == 200
    assert len(set(seen)) == 3
    fourth = client.get("/api/pair?reviewer=ann").json()
    assert fourth["repeat"] is True
    progress = {"reviewer": "ann", "votes": 3, "seen": 3, "pairs": 3, "all_votes": 3}
    assert fourth["progress"] == progress
    other = client.get("/api/pair?reviewer=bob").json()  # bob starts afresh
    assert other["repeat"] is False and other["progress"]["votes"] == 0


def test_skip_sets_the_pending_pair_aside(client):
    first = client.get("/api/pair?reviewer=ann").json()
    second = client.get("/api/pair?reviewer=ann&skip=1").json()
    assert second["pair"] != first["pair"]
    assert second["progress"]["seen"] == 2
    r = client.post("/api/vote", json={"pair": first["pair"], "reviewer": "ann", "choice": "tie"})
    assert r.status_code == 200  # a skipped pair was served: a late vote on it still counts


def _served(client, reviewer="ann"):
    return client.get(f"/api/pair?reviewer={reviewer}").json()["pair"]


BAD_VOTES = [
    # (body, status, error contains)
    (b"{not json", 400, "the body is not JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"reviewer": "ann", "choice": "left"}', 400, "pair is required"),
    (b'{"pair": "PAIR", "reviewer": "ann"}', 400, "choice is required"),
    (b'{"pair": "PAIR", "reviewer": "ann", "choice": "up"}', 400, "choice 'up' is not one of"),
    (b'{"pair": "PAIR", "reviewer": "ann", "choice": 1}', 400, "choice must be one of"),
    (b'{"pair": "PAIR", "choice": "left"}', 400, "a reviewer name is required"),
    (b'{"pair": "PAIR", "reviewer": "  ", "choice": "left"}', 400, "a reviewer name is required"),
    (b'{"pair": "0123456789abcdef", "reviewer": "ann", "choice": "left"}', 404, "unknown pair"),
    (b'{"pair": 7, "reviewer": "ann", "choice": "left"}', 400, "pair must be the id"),
    (b'{"pair": "PAIR", "reviewer": "bob", "choice": "left"}', 409, "another reviewer"),
    (b'{"pair": "PAIR", "reviewer": "ann", "choice": "left", "x": 1}', 400, "unknown field 'x'"),
    (
        b'{"pair": "PAIR", "reviewer": "ann", "choice": "left", "note": "' + b"n" * 2001 + b'"}',
        400,
        "the note has 2001 characters",
    ),
    (
        b'{"pair": "PAIR", "reviewer": "' + b"r" * 101 + b'", "choice": "left"}',
        400,
        "the reviewer name has 101 characters",
    ),
    (b'{"pair": "PAIR", "reviewer": "ann", "choice": "left", "note": "' + b"n" * BODY_MAX, 413, ""),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_VOTES)
def test_bad_votes_are_4xx_one_line_and_store_nothing(client, body, status, message):
    pair = _served(client)
    r = client.post(
        "/api/vote",
        content=body.replace(b"PAIR", pair.encode()),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert "\n" not in r.text
    assert message in r.json()["error"]
    assert stored() == []


def test_a_second_vote_on_a_pair_is_refused(client):
    pair = _served(client)
    ok = client.post("/api/vote", json={"pair": pair, "reviewer": "ann", "choice": "right"})
    assert ok.status_code == 200
    again = client.post("/api/vote", json={"pair": pair, "reviewer": "ann", "choice": "left"})
    assert again.status_code == 409 and "already has a vote" in again.json()["error"]
    assert [v.choice for v in stored()] == ["right"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/pair", 400, "a reviewer name is required"),
        ("/api/pair?reviewer=" + "x" * 101, 400, "at most 100"),
        ("/api/pair?reviewer=a%07b", 400, "control characters"),
        ("/video/0123456789abcdef0123456789abcdef", 404, "not a generation of this review"),
        ("/nothing", 404, "Not Found"),
        ("/static/..%2fapp.py", 404, "no file"),
        ("/static/%2e%2e%2fapp.py", 404, "no file"),
    ],
)
def test_bad_requests(client, path, status, message):
    r = client.get(path)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_get_on_vote_is_405(client):
    r = client.get("/api/vote")
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


def test_video_is_served_with_range(client, sweep):
    pair = client.get("/api/pair?reviewer=ann").json()
    url = pair["left"]["video"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]
    tail = client.get(url, headers={"Range": f"bytes={len(whole.content) - 10}-"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]


def test_ranking(client):
    for choice in ["left", "right", "tie"]:
        pair = client.get("/api/pair?reviewer=ann").json()
        client.post("/api/vote", json={"pair": pair["pair"], "reviewer": "ann", "choice": choice})
    pair = client.get("/api/pair?reviewer=bob").json()
    client.post("/api/vote", json={"pair": pair["pair"], "reviewer": "bob", "choice": "both_bad"})
    r = client.get("/api/ranking")
    assert r.status_code == 200
    body = r.json()
    assert body["votes"] == 4 and body["comparisons"] == 3
    assert body["reviewers"] == [{"reviewer": "ann", "votes": 3}, {"reviewer": "bob", "votes": 1}]
    assert {g["group"] for g in body["groups"]} == {BRIGHT, DARK}
    for g in body["groups"]:
        assert set(g) >= {"group", "score", "lo", "hi", "wins", "losses", "ties", "both_bad", "n"}
        assert g["n"] == 4 and g["both_bad"] == 1 and g["ties"] == 1
    assert sum(g["wins"] for g in body["groups"]) == 2
    assert body["agreement"]["units"] == 1  # bob's pair is one ann judged
    assert body["agreement"]["percent"] in (0.0, 1.0)


def test_the_reviewer_flag_is_the_default(session):
    with served(session, reviewer="cy") as c:
        assert c.get("/api/config").json()["reviewer"] == "cy"
        pair = c.get("/api/pair").json()
        assert pair["progress"]["reviewer"] == "cy"
        r = c.post("/api/vote", json={"pair": pair["pair"], "choice": "left"})
        assert r.status_code == 200
    assert [v.reviewer for v in stored()] == ["cy"]


def test_a_token_guards_the_api_and_the_videos(session):
    with served(session, token="s3cret") as c:
        assert c.get("/api/config").status_code == 401
        assert "no token" in c.get("/api/config").json()["error"]
        assert c.get("/api/config?token=wrong").status_code == 401
        assert c.get("/api/config?token=s3cret").status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        pair = c.get("/api/pair?reviewer=ann", headers=bearer).json()
        assert pair["left"]["video"].endswith("?token=s3cret")  # the player needs no header
        assert c.get(pair["left"]["video"]).status_code == 200
        assert c.get(pair["left"]["video"].split("?")[0]).status_code == 401
        vote = {"pair": pair["pair"], "reviewer": "ann", "choice": "tie"}
        assert c.post("/api/vote", json=vote).status_code == 401
        assert stored() == []
        assert c.post("/api/vote", json=vote, headers=bearer).status_code == 200
        assert c.get("/").status_code == 200  # the page holds no data: it loads, then asks


def test_the_page(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = STATIC / "review.html"
    if page.is_file():
        assert r.content == page.read_bytes()
    else:
        assert "veolab review" in r.text and "/api/pair" in r.text


def test_one_group_is_a_clear_error(sweep):
    from veolab.errors import ConfigError

    with pytest.raises(ConfigError, match="a review needs two; .*--by"):
        ReviewSession.open(NAME, by="resolution", tracking_uri=sweep.uri)
