"""The simulator's fal.ai queue protocol on the wire: apps, statuses, results, fal's errors,
cancel, and billing at fal's price."""

from __future__ import annotations

import time

import httpx
import pytest

from veolab.simserver.fal import APPS

KEY = "fal-sim:key0"
AUTH = {"authorization": f"Key {KEY}"}
INPUT = {"prompt": "a calm sea", "duration": "4s", "resolution": "720p", "generate_audio": False}


def submit(srv, app: str = "fal-ai/veo3.1", body=None, headers=AUTH) -> httpx.Response:
    return httpx.post(
        f"{srv.base_url}/{app}", json=INPUT if body is None else body, headers=headers
    )


def wait_done(srv, status_url: str) -> dict:
    for _ in range(400):
        st = httpx.get(status_url, headers=AUTH)
        if st.json()["status"] == "COMPLETED":
            assert st.status_code == 200
            return st.json()
        assert st.status_code == 202
        time.sleep(0.02)
    raise AssertionError("never completed")


def test_the_apps() -> None:
    assert sorted(APPS) == [
        "veo3.1",
        "veo3.1/fast",
        "veo3.1/fast/first-last-frame-to-video",
        "veo3.1/fast/image-to-video",
        "veo3.1/first-last-frame-to-video",
        "veo3.1/image-to-video",
        "veo3.1/reference-to-video",
    ]


def test_a_request_from_in_queue_to_its_result(sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.3, queue_time=0.1)
    queued = submit(srv, "fal-ai/veo3.1/fast")
    q = queued.json()
    assert queued.headers["x-fal-request-id"] == q["request_id"]
    base = f"{srv.base_url}/fal-ai/veo3.1/requests/{q['request_id']}"
    assert (q["status_url"], q["response_url"], q["cancel_url"]) == (
        f"{base}/status",
        base,
        f"{base}/cancel",
    )
    first = httpx.get(q["status_url"], headers=AUTH).json()
    assert first["status"] == "IN_QUEUE" and first["queue_position"] == 0
    early = httpx.get(q["response_url"], headers=AUTH)
    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})
    done = wait_done(srv, q["status_url"])
    assert done["logs"] is None and done["metrics"]["inference_time"] > 0 and "error" not in done
    result = httpx.get(q["response_url"], headers=AUTH).json()
    assert result["seed"] and result["prompt"] == "a calm sea"
    assert httpx.get(result["video"]["url"]).content[4:8] == b"ftyp"
    [job] = srv.ledger()["jobs"]
    assert (job["model"], job["cost"]) == ("fal-ai/veo3.1/fast", 0.4)


@pytest.mark.parametrize(
    ("app", "body", "status", "detail"),
    [
        ("fal-ai/veo4", INPUT, 404, "Application 'fal-ai/veo4' not found"),
        ("fal-ai/veo3.1/fast/reference-to-video", INPUT, 404, "Application"),
        (
            "fal-ai/veo3.1",
            INPUT | {"duration": "5s", "fps": 24},
            422,
            [("fps", "extra_forbidden"), ("duration", "enum")],
        ),
        ("fal-ai/veo3.1/image-to-video", INPUT, 422, [("image_url", "missing")]),
        (
            "fal-ai/veo3.1/reference-to-video",
            INPUT | {"seed": 1, "image_urls": ["https://x/a.png"], "duration": "8s"},
            422,
            [("seed", "extra_forbidden")],
        ),
    ],
)
def test_fals_refusals(sim_server, app, body, status, detail) -> None:
    srv = sim_server(api_key=KEY)
    answer = submit(srv, app, body)
    assert answer.status_code == status
    got = answer.json()["detail"]
    if isinstance(detail, str):
        assert got.startswith(detail)
    else:
        assert [(d["loc"][-1], d["type"]) for d in got] == detail
    assert srv.ledger()["jobs"] == []


def test_keys_balance_and_cancel(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=1.0, latency=2.0)
    assert submit(srv, headers={}).status_code == 401
    assert submit(srv, headers={"authorization": "Bearer " + KEY}).status_code == 401
    q = submit(srv).json()  # $0.80 held
    broke = submit(srv)
    assert broke.status_code == 403 and broke.json()["detail"].startswith("User is locked.")
    cancelled = httpx.put(q["cancel_url"], headers=AUTH)
    assert (cancelled.status_code, cancelled.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    done = wait_done(srv, q["status_url"])
    assert done["error"] == "cancelled"
    ledger = srv.ledger()
    assert ledger["jobs"] == [] and ledger["held"] == 0 and ledger["credits_remaining"] == 1.0


def test_a_4k_request_is_held_at_fals_4k_price(sim_server) -> None:
    srv = sim_server(api_key=KEY, queue_time=30)  # stays IN_QUEUE: nothing is rendered
    body = INPUT | {"resolution": "4k", "duration": "8s", "generate_audio": True}
    q = submit(srv, "fal-ai/veo3.1", body).json()
    assert srv.ledger()["held"] == 4.8  # 8 s x $0.60 (fal's 4k rate with audio)
    assert httpx.put(q["cancel_url"], headers=AUTH).status_code == 202
    assert srv.ledger()["held"] == 0 and srv.ledger()["jobs"] == []
