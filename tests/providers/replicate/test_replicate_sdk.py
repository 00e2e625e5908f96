"""Replicate's own Python client (``replicate``) against ``veolab sim serve``, unchanged but for
its base URL: create a prediction, wait for it, read its output; its errors and a failed
prediction, as the client reports them."""

from __future__ import annotations

import httpx
import pytest
from replicate_helpers import KEY

from veolab.providers import verify_mp4
from veolab.request import VideoRequest

replicate = pytest.importorskip("replicate")
from replicate.exceptions import ReplicateError  # noqa: E402

INPUT = {
    "prompt": "a red fox running through snow",
    "duration": 4,
    "resolution": "720p",
    "generate_audio": False,
    "seed": 11,
}


@pytest.fixture
def client(sim_server, monkeypatch):
    monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.05")
    srv = sim_server(api_key=KEY, credits=10, latency=0.3)
    return srv, replicate.Client(api_token=KEY, base_url=srv.base_url)


def test_create_wait_and_read_the_output(client) -> None:
    srv, c = client
    prediction = c.predictions.create(model="google/veo-3.1", input=INPUT)
    assert prediction.status == "starting" and prediction.model == "google/veo-3.1"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.metrics["predict_time"] > 0
    assert "Using seed: 11" in prediction.logs
    video = httpx.get(prediction.output).content
    verify_mp4(video)
    [job] = srv.ledger()["jobs"]
    assert job["request_id"] == prediction.id
    assert job["request_hash"] == VideoRequest(**INPUT).request_hash()  # as veolab hashes it
    assert job["cost"] == 0.8
    again = c.predictions.get(prediction.id)
    assert (again.status, again.output) == ("succeeded", prediction.output)


def test_prefer_wait_and_run(client) -> None:
    srv, c = client
    # replicate 1.0's predictions.create(model=..., wait=...) drops `wait` on its way to the
    # models API; models.predictions.create sends it (Prefer: wait=30)
    prediction = c.models.predictions.create(model="google/veo-3.1-fast", input=INPUT, wait=30)
    assert prediction.status == "succeeded"  # the answer was held until the video was made
    output = c.run("google/veo-3.1-fast", input=INPUT | {"seed": 12})
    url = output if isinstance(output, str) else output.url
    verify_mp4(httpx.get(url).content)
    assert [j["model"] for j in srv.ledger()["jobs"]] == ["google/veo-3.1-fast"] * 2
    assert srv.ledger()["total_cost"] == 0.8  # 2 x 4 s x $0.10 (fast, no audio)


def test_the_clients_errors(client) -> None:
    srv, c = client
    with pytest.raises(ReplicateError) as info:
        replicate.Client(api_token="r8_wrong", base_url=srv.base_url).predictions.create(
            model="google/veo-3.1", input=INPUT
        )
    assert info.value.status == 401
    assert "valid authentication token" in info.value.detail
    with pytest.raises(ReplicateError) as info:
        c.predictions.create(model="google/veo-3.1", input=INPUT | {"duration": 5})
    assert info.value.status == 422 and "duration" in info.value.detail
    with pytest.raises(ReplicateError) as info:
        c.predictions.create(model="google/veo-9", input=INPUT)
    assert info.value.status == 404
    failed = c.predictions.create(model="google/veo-3.1", input=INPUT | {"prompt": "[sim:filter]"})
    failed.wait()
    assert failed.status == "failed" and "(E005)" in failed.error
    assert srv.ledger()["jobs"] == []


def test_cancel_is_not_billed(client) -> None:
    srv, c = client
    prediction = c.predictions.create(model="google/veo-3.1", input=INPUT)
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled"
    assert srv.ledger()["jobs"] == [] and srv.ledger()["held"] == 0
