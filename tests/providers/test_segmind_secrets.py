"""The API key appears in no log line, exception text, traceback or result metadata."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback

import pytest

from veolab.errors import VeolabError
from veolab.providers.segmind import SegmindConfig, SegmindProvider
from veolab.request import VideoRequest

KEY = "SG_5ec2e7ba5eba11fe"
FOX = VideoRequest(
    prompt="a red fox running through snow",
    duration=4,
    resolution="720p",
    generate_audio=False,
    seed=7,
)


def attempt(srv, key=KEY, **settings):
    cfg = SegmindConfig(
        base_url=srv.base_url,
        api_key=key,
        poll_interval=0.01,
        retry_backoff=0.0,
        max_retries=1,
        read_timeout=5,
        **settings,
    )
    prov = SegmindProvider(cfg)

    async def go():
        try:
            return await prov.generate(FOX)
        finally:
            await prov.aclose()

    try:
        return asyncio.run(go()), cfg
    except VeolabError as exc:
        return exc, cfg


def everything_said(outcome) -> str:
    if isinstance(outcome, BaseException):
        parts = ["".join(traceback.format_exception(outcome)), repr(outcome)]
        for attr in ("details", "request_id"):
            parts.append(repr(getattr(outcome, attr, None)))
        return "\n".join(parts)
    return json.dumps(outcome.metadata) + repr(outcome)


def test_key_never_leaks(sim_server, caplog):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, tenacity, uvicorn, veolab: everything
    srv = sim_server(api_key=KEY)
    outcomes = [attempt(srv), attempt(srv, mode="sync")]
    srv.inject_faults(
        {"status": 502, "count": 2}, {"kind": "drop", "when": "after"}, {"kind": "fail"}
    )
    outcomes += [
        attempt(srv),
        attempt(srv),
        attempt(srv),
        attempt(srv, key="SG_0000000000000000"),
        attempt(sim_server(api_key=KEY, credits=0)),
    ]
    kinds = [type(o).__name__ for o, _ in outcomes]
    assert kinds == [
        "ProviderResult",
        "ProviderResult",
        "ServerError",
        "OutcomeUnknownError",
        "GenerationFailedError",
        "AuthenticationError",
        "InsufficientCreditsError",
    ]
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert any("retry 1 of 1" in r.getMessage() for r in caplog.records)
    for outcome, cfg in outcomes:
        said = everything_said(outcome)
        assert KEY not in said
        assert KEY not in repr(cfg) and KEY not in cfg.model_dump_json()
    assert KEY not in caplog.text
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_key_echoed_by_the_host_is_scrubbed():
    import httpx

    def handler(request):
        return httpx.Response(401, json={"error": f"key {request.headers['x-api-key']} is bad"})

    prov = SegmindProvider(
        SegmindConfig(api_key=KEY, mode="sync"),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(VeolabError) as info:
        asyncio.run(prov.generate(FOX))
    assert str(info.value).endswith(
        "401 missing or invalid API key: key *** is bad; check "
        "SEGMIND_API_KEY (or --api-key) at segmind.com > API keys"
    )
    assert KEY not in everything_said(info.value)
