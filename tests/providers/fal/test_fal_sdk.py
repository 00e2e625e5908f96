"""fal.ai's own Python client (``fal-client``) against ``veolab sim serve --tls``, unchanged:
it builds ``https://{FAL_QUEUE_RUN_HOST}`` URLs, so it runs in its own process with that
variable, ``FAL_KEY`` and ``SSL_CERT_FILE`` (the simulator's certificate bundle) set, as a user
would set them. Submit, status, result and the video; an error as the client raises it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fal_helpers import KEY

from veolab.request import VideoRequest
from veolab.simserver.tls import self_signed

pytest.importorskip("fal_client")

SCRIPT = """
import json, sys, httpx, fal_client
args = json.loads(sys.argv[1])
try:
    handle = fal_client.submit(sys.argv[2], arguments=args)
except fal_client.client.FalClientHTTPError as exc:
    print(json.dumps({"error": exc.status_code, "detail": str(exc)}))
    raise SystemExit(0)
events = [type(e).__name__ for e in handle.iter_events(interval=0.05)]
result = handle.get()
status = fal_client.status(sys.argv[2], handle.request_id)
again = fal_client.result(sys.argv[2], handle.request_id)
video = httpx.get(result["video"]["url"]).content
print(json.dumps({"id": handle.request_id, "events": events, "status": type(status).__name__,
                  "result": result, "same": again == result, "head": video[4:8].decode(),
                  "bytes": len(video)}))
"""
ARGS = {
    "prompt": "a red fox running through snow",
    "duration": "4s",
    "resolution": "720p",
    "generate_audio": False,
    "seed": 5,
}


@pytest.fixture
def tls_server(sim_server, tmp_path: Path):
    files = self_signed(tmp_path / "tls")
    srv = sim_server(
        api_key=KEY, latency=0.3, tls_cert=str(files.cert), tls_key=str(files.key), credits=10
    )
    return srv, files


def fal_client_run(srv, files, app: str, args: dict, **env: str) -> subprocess.CompletedProcess:
    host = srv.base_url.removeprefix("https://")
    environ = {
        **os.environ,
        "FAL_KEY": KEY,
        "FAL_QUEUE_RUN_HOST": host,
        "SSL_CERT_FILE": str(files.bundle),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args), app],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_fal_client_submits_polls_and_reads_the_result(tls_server, monkeypatch) -> None:
    srv, files = tls_server
    assert srv.base_url.startswith("https://127.0.0.1:")
    done = fal_client_run(srv, files, "fal-ai/veo3.1/fast", ARGS)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["events"][-1] == "Completed" and set(out["events"]) <= {
        "Queued",
        "InProgress",
        "Completed",
    }
    assert out["status"] == "Completed" and out["same"] is True
    assert out["result"]["seed"] == 5 and out["result"]["video"]["content_type"] == "video/mp4"
    assert out["head"] == "ftyp" and out["bytes"] == out["result"]["video"]["file_size"]
    monkeypatch.setenv("SSL_CERT_FILE", str(files.bundle))  # for the ledger call, over https
    [job] = srv.ledger()["jobs"]
    assert job["request_id"] == out["id"] and job["model"] == "fal-ai/veo3.1/fast"
    expected = VideoRequest(**(ARGS | {"duration": 4}))
    assert job["request_hash"] == expected.request_hash()
    assert job["cost"] == 0.4


@pytest.mark.slow
def test_fal_client_sees_fals_errors(tls_server) -> None:
    srv, files = tls_server
    bad = fal_client_run(srv, files, "fal-ai/veo3.1", ARGS | {"duration": "5s"})
    assert json.loads(bad.stdout)["error"] == 422
    nokey = fal_client_run(srv, files, "fal-ai/veo3.1", ARGS, FAL_KEY="wrong")
    assert json.loads(nokey.stdout) == {
        "error": 401,
        "detail": "No user found for Key ID and Secret",
    }


@pytest.mark.slow
def test_without_the_bundle_the_certificate_is_not_trusted(tls_server) -> None:
    srv, files = tls_server
    done = fal_client_run(srv, files, "fal-ai/veo3.1", ARGS, SSL_CERT_FILE="")
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
