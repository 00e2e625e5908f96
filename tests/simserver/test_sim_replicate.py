"""The simulator's Replicate protocol on the wire: predictions, ``Prefer: wait``, problem JSON
errors, the shared credits, faults and ledger."""

from __future__ import annotations

import httpx
import pytest

from veolab.simserver.replicate import wait_seconds

KEY = "r8_sim_key_0000"
AUTH = {"authorization": f"Bearer {KEY}"}
INPUT = {"prompt": "a calm sea", "duration": 4, "resolution": "720p", "generate_audio": False}


def create(srv, model: str = "google/veo-3.1", body=None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{srv.base_url}/v1/models/{model}/predictions",
        json={"input": INPUT} if body is None else body,
        headers=AUTH | headers,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, 0), ("wait", 60), ("wait=5", 5), ("wait=999", 60), ("respond-async, wait=3", 3)],
)
def test_prefer_wait(header, seconds) -> None:
    assert wait_seconds(header) == seconds


def test_a_prediction_from_starting_to_succeeded(sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.3)
    answer = create(srv)
    assert answer.status_code == 201
    p = answer.json()
    assert (p["status"], p["output"], p["model"]) == ("starting", None, "google/veo-3.1")
    assert p["urls"]["get"] == f"{srv.base_url}/v1/predictions/{p['id']}"
    held = create(srv, **{"prefer": "wait=20"}).json()  # held until done
    assert held["status"] == "succeeded" and held["metrics"]["predict_time"] > 0
    video = httpx.get(held["output"])  # the output link needs no token
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    ledger = srv.ledger()
    assert [j["model"] for j in ledger["jobs"]] == ["google/veo-3.1"] * len(ledger["jobs"])


@pytest.mark.parametrize(
    ("call", "status", "detail"),
    [
        (
            lambda srv: httpx.post(
                f"{srv.base_url}/v1/models/google/veo-3.1/predictions", json={"input": INPUT}
            ),
            401,
            "You did not pass an authentication token",
        ),
        (
            lambda srv: create(srv, "google/veo-9"),
            404,
            "The requested resource could not be found.",
        ),
        (lambda srv: create(srv, body={"prompt": "x"}), 422, "- (root): input is required"),
        (
            lambda srv: create(srv, body={"input": INPUT | {"fps": 30}}),
            422,
            "- input: unknown input(s) fps",
        ),
        (
            lambda srv: create(srv, body={"input": INPUT | {"duration": 5}}),
            422,
            "- input: duration",
        ),
        (
            lambda srv: create(
                srv,
                "google/veo-3",
                body={
                    "input": INPUT | {"image": "https://x/a.png", "last_frame": "https://x/b.png"}
                },
            ),
            422,
            "- input: last_frame not offered by replicate veo-3",
        ),
    ],
)
def test_refusals_are_problem_json(sim_server, call, status: int, detail: str) -> None:
    srv = sim_server(api_key=KEY)
    answer = call(srv)
    assert answer.status_code == status
    body = answer.json()
    assert body["status"] == status and body["detail"].startswith(detail)
    assert answer.headers["content-type"] == "application/problem+json"
    assert srv.ledger()["jobs"] == []


def test_credits_rate_and_faults_are_shared_with_the_other_hosts(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=1.0, rate_limit=2, rate_window=60)
    segmind = httpx.post(
        f"{srv.base_url}/v1/veo-3.1",
        json=INPUT,
        headers={"x-api-key": KEY},
        timeout=30,
    )
    assert segmind.status_code == 200  # $0.80 of the $1.00
    short = create(srv)
    assert short.status_code == 402 and "insufficient credit" in short.json()["detail"]
    throttled = create(srv)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["detail"].startswith("Request was throttled.")
    srv.reset()
    srv.inject_faults({"route": "submit", "status": 503})
    assert create(srv).json() == {
        "title": "Service unavailable",
        "detail": "Service unavailable",
        "status": 503,
    }
    assert srv.ledger()["counts"] == {"submit": 1}
