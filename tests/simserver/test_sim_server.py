"""``veolab sim serve`` speaks Segmind's protocol: real HTTP on 127.0.0.1, plain clients."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import httpx
import pytest

from veolab.providers.mp4 import verify_mp4
from veolab.request import VideoRequest
from veolab.simserver import SimServerConfig, parse_rate, serve_in_thread

KEY = "SG_0123456789abcdef"
FOX = {
    "prompt": "a red fox running through snow",
    "duration": 4,
    "resolution": "720p",
    "generate_audio": False,
    "seed": 7,
}


def post(srv, path, body, key=KEY, **kw):
    headers = {"x-api-key": key} if key else {}
    return httpx.post(srv.base_url + path, json=body, headers=headers, timeout=30, **kw)


def wait_done(srv, rid, key=KEY):
    deadline = time.monotonic() + 15  # generous: renders are slow on a loaded machine
    while time.monotonic() < deadline:
        r = httpx.get(f"{srv.base_url}/v2/requests/{rid}/status", headers={"x-api-key": key})
        if r.json()["status"] in ("COMPLETED", "FAILED"):
            return r
        time.sleep(0.01)
    raise AssertionError("job never finished")


def test_sync_call_like_segmind_model_page_with_requests(sim_server):
    import requests  # the snippet on Segmind's model page

    srv = sim_server(api_key=KEY, credits=10)
    response = requests.post(
        f"{srv.base_url}/v1/veo-3.1", json=FOX, headers={"x-api-key": KEY}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    verify_mp4(response.content)
    assert response.headers["x-cost"] == "0.8000"  # 4 s x $0.20 (veo-3.1, no audio)
    assert response.headers["x-remaining-credits"] == "9.2000"
    assert response.headers["x-seed-value"] == "7"
    assert float(response.headers["x-generation-time"]) >= 0
    rid = response.headers["x-request-id"]
    job = srv.ledger()["jobs"]
    assert [(j["request_id"], j["seed"], j["cost"], j["model"], j["mode"]) for j in job] == [
        (rid, 7, 0.8, "veo-3.1", "sync")
    ]
    assert job[0]["request_hash"] == VideoRequest(**FOX).request_hash()


@pytest.mark.slow
def test_queue_protocol_shapes_and_headers(sim_server):
    srv = sim_server(api_key=KEY, latency=0.05)
    r = post(srv, "/v2/veo-3.1-fast", FOX | {"generate_audio": True})
    assert r.status_code == 200
    body = r.json()
    rid = body["request_id"]
    assert body == {
        "request_id": rid,
        "status": "QUEUED",
        "poll_url": f"{srv.base_url}/v2/requests/{rid}",
        "status_url": f"{srv.base_url}/v2/requests/{rid}/status",
        "response_url": f"{srv.base_url}/v2/requests/{rid}",
    }
    assert r.headers["x-request-id"] == rid
    status = wait_done(srv, rid)
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert set(status.json()["metrics"]) == {
        "queue_time",
        "inference_time",
        "total_time",
        "cost",
        "remaining_credits",
        "seed",
    }
    result = httpx.get(body["response_url"], headers={"x-api-key": KEY})
    out = result.json()
    assert out["status"] == "COMPLETED"
    assert out["output"] == f"{srv.base_url}/files/{rid}.mp4"
    assert out["seed"] == 7 and out["metrics"]["cost"] == 0.6  # fast, audio: $0.15/s x 4
    assert result.headers["x-cost"] == "0.6000" and result.headers["x-seed-value"] == "7"
    assert "x-remaining-credits" not in result.headers  # unlimited credits: nothing to report
    video = httpx.get(out["output"])  # the file link needs no key, like a CDN URL
    assert video.headers["content-type"] == "video/mp4"
    verify_mp4(video.content)


@pytest.mark.slow
def test_no_seed_means_the_server_picks_and_reports_one(sim_server):
    srv = sim_server()
    r = post(srv, "/v1/veo-3.1", {k: v for k, v in FOX.items() if k != "seed"}, key=None)
    seed = int(r.headers["x-seed-value"])
    assert 0 <= seed <= 4_294_967_295
    [job] = srv.ledger()["jobs"]
    assert job["seed"] == seed
    # the hash is of the parameters as received: no seed
    assert job["request_hash"] == VideoRequest(**{**FOX, "seed": None}).request_hash()
    submitted = post(srv, "/v2/veo-3.1", FOX | {"seed": -1}, key=None).json()  # -1: "random"
    wait_done(srv, submitted["request_id"], key="")
    result = httpx.get(submitted["response_url"])
    assert isinstance(result.json()["seed"], int)
    assert result.json()["seed"] == int(result.headers["x-seed-value"])


@pytest.mark.parametrize(
    ("path", "body", "key", "status", "error"),
    [
        ("/v2/veo-3.1", FOX, None, 401, "Missing Authorization or x-api-key in header"),
        (
            "/v2/veo-3.1",
            FOX,
            "SG_wrong",
            401,
            "Unauthorized. API key is invalid or may have expired",
        ),
        ("/v2/veo-9", FOX, KEY, 404, "Model veo-9 not found"),
        ("/v1/veo-3.1", {"duration": 4}, KEY, 400, "Prompt is Mandatory and must be string"),
        ("/v1/veo-3.1", FOX | {"frames": 30}, KEY, 400, "Unknown parameter(s): frames"),
        # each model of the family takes what its page lists (capabilities.SEGMIND)
        ("/v1/veo-3.1", FOX | {"fps": 30}, KEY, 422, "fps 30 not offered by segmind veo-3.1 (24)"),
        (
            "/v2/veo-3.1-lite",
            FOX | {"duration": 8, "reference_images": ["https://example.com/r.png"]},
            KEY,
            422,
            "reference_images not offered by segmind veo-3.1-lite",
        ),
        (
            "/v2/veo-3.1",
            FOX | {"aspect_ratio": "4:3"},
            KEY,
            422,
            "aspect_ratio 4:3 not offered by segmind veo-3.1 (16:9, 9:16)",
        ),
        (
            "/v1/veo-3.1",
            FOX | {"seed": "x"},
            KEY,
            400,
            "seed: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "/v1/veo-3.1",
            FOX | {"duration": 5},
            KEY,
            422,
            "duration: Input should be 4, 6 or 8 (got 5)",
        ),
        (
            "/v2/veo-3.1",
            FOX | {"resolution": "1080p"},
            KEY,
            422,
            "resolution 1080p requires duration 8 (got duration 4): use --duration 8 or "
            "--resolution 720p (Veo 3.1 rules; --no-veo-rules turns them off)",
        ),
        (
            "/v2/veo-3.1",
            FOX | {"image": "/etc/passwd"},
            KEY,
            422,
            "image must be an http(s) URL or a data: URI",
        ),
        ("/v2/veo-3.1", [1, 2], KEY, 400, "Request body must be a JSON object of parameters"),
    ],
)
def test_errors_are_segmind_json(sim_server, path, body, key, status, error):
    srv = sim_server(api_key=KEY)
    r = post(srv, path, body, key=key)
    assert (r.status_code, r.json()) == (status, {"error": error})
    assert srv.ledger()["jobs"] == []


def test_veo_3_takes_its_ratios_and_30_fps(sim_server):
    srv = sim_server(api_key=KEY)
    r = post(srv, "/v1/veo-3-fast", FOX | {"aspect_ratio": "1:1", "fps": 30})
    assert r.status_code == 200, r.text
    verify_mp4(r.content)
    assert r.headers["x-cost"] == "0.4000"  # 4 s without audio at $0.10/s
    (job,) = srv.ledger()["jobs"]
    assert (job["model"], job["cost"]) == ("veo-3-fast", 0.4)


def test_wrong_content_type_is_plain_text_406(sim_server):
    srv = sim_server()
    r = httpx.post(
        srv.base_url + "/v1/veo-3.1",
        content=b'{"prompt": "x"}',
        headers={"content-type": "text/plain"},
    )
    assert (r.status_code, r.text) == (406, "Invalid content type")


def test_credits_are_billed_per_second_and_run_out(sim_server):
    srv = sim_server(credits=1.0)
    assert post(srv, "/v1/veo-3.1", FOX).status_code == 200  # $0.80
    r = post(srv, "/v1/veo-3.1", FOX)
    assert (r.status_code, r.json()) == (
        406,
        {"error": "Insufficient credits: balance $0.20, this request needs $0.80"},
    )
    ledger = srv.ledger()
    assert (ledger["total_cost"], ledger["credits_remaining"], len(ledger["jobs"])) == (0.8, 0.2, 1)
    srv402 = sim_server(credits=0, insufficient_status=402)
    assert post(srv402, "/v2/veo-3.1", FOX).status_code == 402


def test_rate_limit_gives_429_with_the_reset_time(sim_server):
    srv = sim_server(rate_limit=2, rate_window=60)
    assert [post(srv, "/v2/veo-3.1", FOX).status_code for _ in range(2)] == [200, 200]
    t = time.time()
    r = post(srv, "/v2/veo-3.1", FOX)
    assert r.status_code == 429
    assert r.json()["error"].startswith("Rate limit exceeded: 2 submits per 60 s; retry after ")
    reset = datetime.fromisoformat(r.headers["x-rate-limit-reset-at-utc"].replace("Z", "+00:00"))
    assert 55 < reset.timestamp() - t <= 60.5
    assert "retry-after" not in r.headers  # Segmind sends only the reset time
    assert [a["status"] for a in srv.ledger()["attempts"] if a["route"] == "submit"] == [
        200,
        200,
        429,
    ]


@pytest.mark.slow
def test_scripted_faults_are_consumed_in_order(sim_server):
    srv = sim_server()
    srv.inject_faults(
        {"status": 502, "body": "html", "count": 2},
        {"route": "status", "status": 500, "body": "text"},
    )
    first = post(srv, "/v2/veo-3.1", FOX)
    assert first.status_code == 502
    assert first.headers["content-type"].startswith("text/html")
    assert "<title>502 Bad gateway</title>" in first.text
    assert post(srv, "/v2/veo-3.1", FOX).status_code == 502
    ok = post(srv, "/v2/veo-3.1", FOX)
    assert ok.status_code == 200
    rid = ok.json()["request_id"]
    failed_poll = httpx.get(f"{srv.base_url}/v2/requests/{rid}/status")
    assert (failed_poll.status_code, failed_poll.text) == (500, "Internal server error")
    assert wait_done(srv, rid).json()["status"] == "COMPLETED"
    counts = srv.ledger()["counts"]
    assert counts["submit"] == 3 and len(srv.ledger()["jobs"]) == 1


def test_dropped_connection_after_billing_is_a_lost_answer(sim_server):
    srv = sim_server()
    srv.inject_faults({"kind": "drop", "when": "after"})
    with pytest.raises(httpx.RemoteProtocolError):
        post(srv, "/v1/veo-3.1", FOX)
    [job] = srv.ledger()["jobs"]  # billed, though the client never heard back
    assert job["cost"] == 0.8
    srv.inject_faults({"kind": "drop"})  # before: nothing happens on the server
    with pytest.raises(httpx.RemoteProtocolError):
        post(srv, "/v1/veo-3.1", FOX)
    assert len(srv.ledger()["jobs"]) == 1


def test_failed_job_is_422_and_not_billed(sim_server):
    srv = sim_server(credits=5)
    srv.inject_faults({"kind": "fail"})
    rid = post(srv, "/v2/veo-3.1", FOX).json()["request_id"]
    status = wait_done(srv, rid)
    assert status.status_code == 422
    assert status.json()["status"] == "FAILED"
    assert status.json()["error"] == "the model could not generate this video (simulated failure)"
    ledger = srv.ledger()
    assert (ledger["jobs"], ledger["credits_remaining"], ledger["held"]) == ([], 5.0, 0.0)


def test_unknown_job_is_404(sim_server):
    srv = sim_server()
    r = httpx.get(f"{srv.base_url}/v2/requests/nope/status")
    assert (r.status_code, r.json()) == (404, {"error": "Request nope not found"})


def test_upload_asset_returns_urls_that_keep_the_image_identity(sim_server, make_png):
    srv = sim_server(api_key=KEY)
    png = make_png("first.png", (200, 40, 40)).read_bytes()
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    r = httpx.post(
        srv.base_url + "/upload-asset", json={"data_urls": [data_url]}, headers={"x-api-key": KEY}
    )
    [url] = r.json()["file_urls"]
    assert url.startswith(f"{srv.base_url}/_sim/assets/") and httpx.get(url).content == png
    post(srv, "/v1/veo-3.1", FOX | {"image": url})
    [job] = srv.ledger()["jobs"]
    assert job["request_hash"] == VideoRequest(**FOX, image=data_url).request_hash()


def test_reset_forgets_everything(sim_server):
    srv = sim_server(credits=2)
    post(srv, "/v1/veo-3.1", FOX)
    srv.inject_faults({"status": 500})
    srv.reset()
    ledger = srv.ledger()
    assert (ledger["jobs"], ledger["credits_remaining"], ledger["attempts"]) == ([], 2.0, [])
    assert httpx.get(srv.base_url + "/_sim/faults").json() == {"faults": []}


def test_random_faults_are_seeded(sim_server):
    def statuses(seed):
        with serve_in_thread(SimServerConfig(fault_rate=0.5, fault_seed=seed)) as srv:
            out = []
            for _ in range(12):
                try:
                    out.append(httpx.get(f"{srv.base_url}/v2/requests/x/status").status_code)
                except httpx.RemoteProtocolError:
                    out.append("drop")
            return out

    first = statuses(3)
    assert first == statuses(3)
    assert {500, 502, 504, 404} & set(first) and len(set(first)) >= 3


def test_segmind_sdk_works_against_the_simulator(sim_server, monkeypatch, make_png):
    import segmind
    from segmind.files import Files

    srv = sim_server(api_key=KEY, latency=0.05)
    client = segmind.SegmindClient(api_key=KEY, base_url=f"{srv.base_url}/v1")
    response = client.run_sync("veo-3.1", **FOX)  # POST /v1/veo-3.1
    verify_mp4(response.content)
    assert response.headers["x-seed-value"] == "7"
    job = client.submit_async("veo-3.1", **FOX)  # POST /v2/veo-3.1, derived from base_url
    result = job.wait(timeout=30, interval=0.02)
    assert result["status"] == "COMPLETED" and result["request_id"] == job.request_id
    verify_mp4(httpx.get(result["output"]).content)
    srv.inject_faults({"kind": "fail"})
    with pytest.raises(segmind.InferenceFailed):
        client.submit_async("veo-3.1", **FOX).wait(timeout=30, interval=0.02)
    # the SDK's storage host is a class constant: only a patch can point it elsewhere
    monkeypatch.setattr(Files, "STORAGE_BASE_URL", srv.base_url)
    urls = client.files.upload(make_png("a.png", (1, 2, 3)))["file_urls"]
    assert urls[0].startswith(f"{srv.base_url}/_sim/assets/")
    assert [j["mode"] for j in srv.ledger()["jobs"]] == ["sync", "queue"]


def test_parse_rate():
    assert [parse_rate(t) for t in ("10/min", "2/s", "100/h", "3/10s")] == [
        (10, 60.0),
        (2, 1.0),
        (100, 3600.0),
        (3, 10.0),
    ]


@pytest.mark.slow
def test_cli_serve_subprocess_announces_and_exits_cleanly_on_sigterm():
    env = dict(os.environ, PYTHONUNBUFFERED="0")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veolab",
            "sim",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--credits",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("veolab sim serving on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(url + "/_sim/health").json() == {
            "ok": True,
            "models": ["veo-3.1", "veo-3.1-fast", "veo-3.1-lite", "veo-3", "veo-3-fast"],
        }
        assert httpx.post(url + "/v2/veo-3.1", json=FOX).status_code == 401
        # rendered in the server's process pool (one worker per CPU by default)
        video = httpx.post(url + "/v1/veo-3.1", json=FOX, headers={"x-api-key": KEY}, timeout=60)
        verify_mp4(video.content)
        assert video.headers["x-remaining-credits"] == "2.2000"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_serve_port_in_use_is_a_clean_error(sim_server):
    from click.testing import CliRunner

    from veolab.cli import cli

    srv = sim_server()
    result = CliRunner().invoke(cli, ["sim", "serve", "--port", str(srv.port)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{srv.port}: ")
    assert result.output.rstrip().endswith("choose another --port")
