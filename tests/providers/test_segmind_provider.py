"""The segmind provider against ``veolab sim serve`` over real HTTP: both modes, seeds, costs,
images, resume, the generate command."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.errors import MissingKeyError, OutcomeUnknownError
from veolab.providers import get_provider, verify_mp4
from veolab.providers.segmind import SegmindConfig, SegmindProvider
from veolab.request import VideoRequest

KEY = "SG_0123456789abcdef"
FOX = VideoRequest(
    prompt="a red fox running through snow",
    duration=4,
    resolution="720p",
    generate_audio=False,
    seed=7,
)


def provider(srv, **settings) -> SegmindProvider:
    fast = dict(
        poll_interval=0.01,
        poll_max_interval=0.05,
        retry_backoff=0.0,
        max_retries=3,
        connect_timeout=2,
        read_timeout=10,
    )
    cfg = SegmindConfig(base_url=srv.base_url, api_key=KEY, **(fast | settings))
    return SegmindProvider(cfg)


def run(prov, request=FOX, **kw):
    async def go():
        try:
            return await prov.generate(request, **kw)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def run_resume(prov, request_id, request=FOX):
    async def go():
        try:
            return await prov.resume(request, request_id)
        finally:
            await prov.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["queue", "sync"])
def test_both_modes_return_a_verified_video_and_billing_facts(sim_server, mode):
    srv = sim_server(api_key=KEY, credits=10)
    result = run(provider(srv, mode=mode))
    verify_mp4(result.video)
    [job] = srv.ledger()["jobs"]
    assert (result.seed, result.cost, result.remaining_credits) == (7, 0.8, 9.2)
    assert result.request_id == job["request_id"]
    assert job["mode"] == mode and job["request_hash"] == FOX.request_hash()
    assert result.metadata["headers"]["x-cost"] == "0.8000"
    assert result.metadata["headers"]["x-seed-value"] == "7"
    assert result.metadata["seed_source"] == "host"
    assert result.metadata["submit_attempts"] == 1
    assert result.metadata["output"] == (
        f"url:{srv.base_url}/files/{job['request_id']}.mp4" if mode == "queue" else "body"
    )
    assert result.timings.total >= result.timings.generating > 0
    counts = srv.ledger()["counts"]
    assert counts["submit"] == 1
    if mode == "queue":
        assert counts["file"] == 1 and counts["result"] == 1 and counts["status"] >= 1
    else:
        assert set(counts) == {"submit"}


@pytest.mark.parametrize("shape", ["url", "base64"])
def test_sync_json_shapes_from_the_server(sim_server, shape):
    srv = sim_server(sync_output=shape)
    result = run(provider(srv, mode="sync"))
    verify_mp4(result.video)
    assert result.metadata["output"].split(":")[0] == shape
    assert result.seed == 7


def test_the_host_picks_the_seed_when_the_request_has_none(sim_server):
    srv = sim_server(api_key=KEY)
    result = run(provider(srv), FOX.model_copy(update={"seed": None}))
    [job] = srv.ledger()["jobs"]
    assert result.seed == job["seed"] == int(result.metadata["headers"]["x-seed-value"])
    assert result.metadata["seed_source"] == "host"
    assert "seed" not in result.metadata["sent"]


def test_on_submitted_hears_the_id_before_polling(sim_server):
    srv = sim_server(api_key=KEY, latency=0.3)
    heard: list[tuple[str, int]] = []
    result = run(provider(srv), on_submitted=lambda rid: heard.append((rid, len(srv.state.ledger))))
    assert heard == [(result.request_id, 0)]  # called while the job was still running


def test_resume_polls_an_accepted_job_without_paying_again(sim_server):
    srv = sim_server(api_key=KEY, latency=0.6, credits=2)
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(srv, job_timeout=0.2))
    rid = info.value.request_id
    assert rid is not None and "job_timeout" in str(info.value)
    result = run_resume(provider(srv), rid)
    verify_mp4(result.video)
    ledger = srv.ledger()
    assert [j["request_id"] for j in ledger["jobs"]] == [rid]
    assert ledger["counts"]["submit"] == 1
    assert (result.request_id, result.cost, result.metadata["resumed"]) == (rid, 0.8, True)


def test_missing_key_fails_before_any_request(sim_server):
    srv = sim_server()
    prov = SegmindProvider(SegmindConfig(base_url=srv.base_url))
    with pytest.raises(MissingKeyError) as info:
        asyncio.run(prov.generate(FOX))
    assert str(info.value) == "No Segmind API key: set SEGMIND_API_KEY or pass --api-key"
    assert srv.ledger()["attempts"] == []


def test_key_and_base_url_from_the_environment(sim_server, monkeypatch):
    srv = sim_server(api_key=KEY)
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    monkeypatch.setenv("SEGMIND_BASE_URL", srv.base_url + "/v1")  # an SDK-style URL works too
    prov = get_provider("segmind")
    assert prov.base_url == srv.base_url and prov.storage_url == srv.base_url
    result = run(prov)
    assert result.seed == 7 and len(srv.ledger()["jobs"]) == 1


@pytest.mark.parametrize("inline", [True, False])
def test_local_images_inline_or_uploaded_keep_the_request_identity(sim_server, make_png, inline):
    srv = sim_server(api_key=KEY, veo_rules=False)
    first = make_png("first.png", (230, 60, 20))
    request = VideoRequest.build(
        prompt="a red fox",
        duration=8,
        resolution="720p",
        generate_audio=False,
        seed=3,
        image=str(first),
        reference_images=["https://example.com/style.png"],
        veo_rules=False,
    )
    result = run(provider(srv, inline_images=inline), request)
    sent = result.metadata["sent"]
    assert sent["reference_images"] == ["https://example.com/style.png"]  # URLs pass through
    if inline:
        assert sent["image"].startswith("<") and "upload" not in srv.ledger()["counts"]
    else:
        assert sent["image"].startswith(f"{srv.base_url}/_sim/assets/")
        assert srv.ledger()["counts"]["upload"] == 1
    [job] = srv.ledger()["jobs"]
    assert job["request_hash"] == request.request_hash()


@pytest.mark.parametrize("mode", ["sync", "queue"])
def test_generate_command_against_the_simulator(sim_server, monkeypatch, tmp_path, mode):
    srv = sim_server(api_key=KEY, credits=5)
    monkeypatch.setenv("SEGMIND_BASE_URL", srv.base_url)
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    out = tmp_path / "fox.mp4"
    args = [
        "generate",
        "--provider",
        "segmind",
        "-p",
        FOX.prompt,
        "--resolution",
        "720p",
        "--duration",
        "4",
        "--no-audio",
        "--seed",
        "7",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, args + ["--mode", mode])
    assert result.exit_code == 0, result.output
    size = out.stat().st_size
    assert result.output == (
        f"Wrote {out} ({size / 1e6:.2f} MB)\nseed: 7\n"
        f"request hash: {FOX.request_hash()}\ncost: $0.80\n"
    )
    verify_mp4(out.read_bytes())
    assert [j["mode"] for j in srv.ledger()["jobs"]] == [mode]


def test_generate_command_errors_are_one_line(sim_server, monkeypatch, tmp_path):
    srv = sim_server(api_key=KEY)
    args = [
        "generate",
        "--provider",
        "segmind",
        "-p",
        "x",
        "--resolution",
        "720p",
        "--duration",
        "4",
        "--base-url",
        srv.base_url,
        "-o",
        str(tmp_path / "x.mp4"),
    ]
    runner = CliRunner()
    missing = runner.invoke(cli, args)
    assert (missing.exit_code, missing.output) == (
        2,
        "Error: No Segmind API key: set SEGMIND_API_KEY or pass --api-key\n",
    )
    wrong = runner.invoke(cli, args + ["--api-key", "SG_badbadbadbadbad0"])
    assert wrong.exit_code == 3
    assert wrong.output == (
        "Error: Segmind submit to veo-3.1 failed: 401 missing or invalid API key: Unauthorized. "
        "API key is invalid or may have expired; check SEGMIND_API_KEY (or --api-key) at "
        "segmind.com > API keys\n"
    )
    assert not (tmp_path / "x.mp4").exists()


def test_metadata_is_json_and_keeps_the_kept_headers(sim_server):
    srv = sim_server(api_key=KEY, credits=3, rate_limit=10)
    result = run(provider(srv))
    meta = json.loads(json.dumps(result.metadata))
    assert set(meta["headers"]) >= {
        "x-remaining-credits",
        "x-cost",
        "x-seed-value",
        "x-request-id",
        "x-generation-time",
    }
    assert meta["metrics"]["cost"] == 0.8 and meta["response"]["status"] == "COMPLETED"
    assert meta["base_url"] == srv.base_url and meta["model"] == "veo-3.1"
