"""``veolab sim serve --prerendered N``: a few clips per format, rendered once and reused by
request hash, behind the same protocol, billing, faults and ledger."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from veolab.analysis.probe import probe_video
from veolab.errors import OutputNotObtainedError
from veolab.providers.segmind import SegmindConfig, SegmindProvider
from veolab.request import VideoRequest
from veolab.simserver import SimServerConfig

KEY = "SG_0123456789abcdef"


def generate_all(base_url: str, requests: list[VideoRequest], **settings) -> list:
    async def go():
        cfg = SegmindConfig(
            base_url=base_url,
            api_key=KEY,
            poll_interval=0.01,
            poll_max_interval=0.05,
            retry_backoff=0.0,
            max_in_flight=8,
            **settings,
        )
        prov = SegmindProvider(cfg)
        try:
            return await asyncio.gather(
                *(prov.generate(r) for r in requests), return_exceptions=True
            )
        finally:
            await prov.aclose()

    return asyncio.run(go())


def fox(seed: int, **params) -> VideoRequest:
    fields = {"prompt": "a red fox", "resolution": "720p", "duration": 4, "generate_audio": False}
    fields |= params
    return VideoRequest(**fields, seed=seed)


@pytest.mark.slow
def test_clips_are_shared_per_format_and_picked_by_request_hash(sim_server):
    srv = sim_server(api_key=KEY, prerendered=2, credits=20)
    requests = [fox(s) for s in range(1, 9)] + [fox(1), fox(3, duration=6)]
    results = generate_all(srv.base_url, requests)
    videos = [r.video for r in results]
    assert len(set(videos[:8])) == 2  # eight requests, two clips of the format
    assert videos[8] == videos[0]  # the same request, the same clip
    assert probe_video(videos[9]).duration_s == pytest.approx(6.0, abs=0.1)  # its own format
    assert videos[9] not in videos[:9]
    ledger = srv.ledger()
    assert len(ledger["jobs"]) == 10  # billed like any job: 8 x $0.80 + $0.80 + $1.20
    assert ledger["total_cost"] == pytest.approx(9 * 0.8 + 1.2)
    assert ledger["credits_remaining"] == pytest.approx(20 - 9 * 0.8 - 1.2)
    assert [r.seed for r in results] == [r.seed for r in requests]  # the request's seed


def test_faults_still_apply(sim_server):
    srv = sim_server(api_key=KEY, prerendered=1)
    srv.inject_faults({"route": "file", "status": 403, "message": "Request has expired"})
    [failed] = generate_all(srv.base_url, [fox(1)])
    assert isinstance(failed, OutputNotObtainedError)
    assert "the download URL has expired (403: Request has expired)" in str(failed)


def test_jobs_still_take_their_latency(sim_server):
    import httpx

    srv = sim_server(prerendered=1, latency=600)
    body = {"prompt": "x", "resolution": "720p", "duration": 4}
    rid = httpx.post(f"{srv.base_url}/v2/veo-3.1", json=body).json()["request_id"]
    status = httpx.get(f"{srv.base_url}/v2/requests/{rid}/status").json()["status"]
    assert status == "PROCESSING"  # not done the moment a clip is at hand


def test_option_is_validated_and_documented():
    from veolab.cli import cli

    with pytest.raises(ValueError, match="prerendered"):
        SimServerConfig(prerendered=-1)
    out = CliRunner().invoke(cli, ["sim", "serve", "--help"])
    assert out.exit_code == 0 and "--prerendered N" in out.output
    bad = CliRunner().invoke(cli, ["sim", "serve", "--prerendered", "-2"])
    assert bad.exit_code == 2 and "Invalid value for '--prerendered'" in bad.output
