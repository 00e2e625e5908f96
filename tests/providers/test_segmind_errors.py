"""Every error status, the retry policy and lost answers, over real HTTP to the simulator.

Attempts are counted in the server's ledger (``attempts``: one entry per API call)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    GenerationFailedError,
    InsufficientCreditsError,
    ModelNotFoundError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    ValidationRejectedError,
)
from veolab.providers import verify_mp4
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
RETRIES = 2


def provider(base_url: str, **settings) -> SegmindProvider:
    fast = dict(
        poll_interval=0.01,
        poll_max_interval=0.05,
        retry_backoff=0.0,
        max_retries=RETRIES,
        connect_timeout=2,
        read_timeout=10,
        api_key=KEY,
    )
    return SegmindProvider(SegmindConfig(base_url=base_url, **(fast | settings)))


def run(prov, request=FOX):
    async def go():
        try:
            return await prov.generate(request)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def submits(srv) -> list[int]:
    return [a["status"] for a in srv.ledger()["attempts"] if a["route"] == "submit"]


def wait_for(what, seconds: float = 15.0):
    """``what()`` once it is truthy (the server finishes jobs on its own time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the server never got there")


def wait_for_jobs(srv, n: int) -> list[dict]:
    def enough() -> list[dict] | None:
        jobs = srv.ledger()["jobs"]
        return jobs if len(jobs) >= n else None

    return wait_for(enough)


# -- each status becomes its typed error, retried or not ---------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls", "status", "text", "retried"),
    [
        (
            {"status": 400, "message": "Invalid aspect ratio"},
            BadRequestError,
            400,
            "400 bad request: Invalid aspect ratio; fix the parameter it names",
            False,
        ),
        (
            {"status": 403, "message": "Model access denied"},
            PermissionDeniedError,
            403,
            "403 forbidden: Model access denied; this key may not use the model",
            False,
        ),
        (
            {"status": 402, "message": "Payment required"},
            InsufficientCreditsError,
            402,
            "402 insufficient credits: Payment required; top up the Segmind account",
            False,
        ),
        (
            {"status": 422, "message": "Prompt violates policy"},
            ValidationRejectedError,
            422,
            "422 validation error: Prompt violates policy; fix the parameter it names",
            False,
        ),
        ({"status": 500}, ServerError, 500, "500 server error: Internal server error", True),
        (
            {"status": 502, "body": "html"},
            ServerError,
            502,
            "502 bad gateway: HTML page: 502 Bad gateway; try again in a minute",
            True,
        ),
        (
            {"status": 503, "body": "text", "message": "Down for maintenance"},
            ServerError,
            503,
            "503 service unavailable: Down for maintenance",
            True,
        ),
        (
            {"status": 504},
            ServerError,
            504,
            "504 gateway timeout: Gateway timeout; try again; prefer --mode queue",
            True,
        ),
    ],
)
@pytest.mark.parametrize("mode", ["queue", "sync"])
def test_error_status_becomes_typed_error(sim_server, fault, cls, status, text, retried, mode):
    srv = sim_server(api_key=KEY)
    srv.inject_faults(fault | {"count": 10})
    with pytest.raises(cls) as info:
        run(provider(srv.base_url, mode=mode))
    what = "submit to veo-3.1" if mode == "queue" else "sync call to veo-3.1"
    assert str(info.value).startswith(f"Segmind {what} failed: {text}")
    assert info.value.status_code == status and info.value.exit_code == 3
    assert submits(srv) == [status] * (RETRIES + 1 if retried else 1)
    assert srv.ledger()["jobs"] == []


@pytest.mark.parametrize(
    ("server", "settings", "cls", "status", "message"),
    [
        (
            {"api_key": KEY},
            {"api_key": None},
            AuthenticationError,
            401,
            "Segmind submit to veo-3.1 failed: 401 missing or invalid API key: Unauthorized. "
            "API key is invalid or may have expired; check SEGMIND_API_KEY (or --api-key) at "
            "segmind.com > API keys",
        ),
        (
            {"models": ["veo-3.1"]},
            {"model": "veo-3.1-fast"},
            ModelNotFoundError,
            404,
            "Segmind submit to veo-3.1-fast failed: 404 model not found: Model veo-3.1-fast not "
            "found; use --model veo-3.1 or veo-3.1-fast, and check SEGMIND_BASE_URL",
        ),
        (
            {"credits": 0.5},
            {},
            InsufficientCreditsError,
            406,
            "Segmind submit to veo-3.1 failed: 406 insufficient credits: Insufficient credits: "
            "balance $0.50, this request needs $0.80; top up the Segmind account or lower the "
            "budget",
        ),
    ],
)
def test_natural_errors_from_the_server(
    sim_server, monkeypatch, server, settings, cls, status, message
):
    srv = sim_server(**server)
    if settings.get("api_key", KEY) is None:
        monkeypatch.setenv("SEGMIND_API_KEY", "SG_ffffffffffffffff")  # a wrong key
        settings = {k: v for k, v in settings.items() if k != "api_key"} | {"api_key": None}
    with pytest.raises(cls) as info:
        run(provider(srv.base_url, **settings))
    assert (str(info.value), info.value.status_code) == (message, status)
    assert submits(srv) == [status]


def test_422_from_server_side_validation(sim_server):
    srv = sim_server()
    request = VideoRequest(prompt="x", duration=4, resolution="1080p", veo_rules=False)
    with pytest.raises(ValidationRejectedError) as info:
        run(provider(srv.base_url), request)
    assert "resolution 1080p requires duration 8" in str(info.value)
    assert submits(srv) == [422]


def test_transient_errors_are_retried_then_succeed(sim_server):
    srv = sim_server()
    srv.inject_faults(
        {"status": 502, "count": 2},
        {"route": "status", "status": 500},
        {"route": "status", "kind": "drop"},
        {"route": "result", "status": 504},
        {"route": "file", "kind": "truncate"},
    )
    result = run(provider(srv.base_url, max_retries=3))
    verify_mp4(result.video)
    assert submits(srv) == [502, 502, 200]
    assert result.metadata["submit_attempts"] == 3
    statuses = [(a["route"], a["status"]) for a in srv.ledger()["attempts"]]
    assert ("status", 500) in statuses and ("result", 504) in statuses
    assert [s for r, s in statuses if r == "file"] == [200, 200]  # truncated, then whole
    assert len(srv.ledger()["jobs"]) == 1


def test_connection_refused_is_retried_then_a_connection_error(sim_server):
    srv = sim_server()
    url = srv.base_url
    srv.stop()
    time.sleep(0.4)
    with pytest.raises(ProviderConnectionError) as info:
        run(provider(url, connect_timeout=0.5))
    assert str(info.value) == (
        "Segmind submit to veo-3.1 failed: could not connect "
        "(ConnectError); check the network and SEGMIND_BASE_URL"
    )


# -- rate limits ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("retry_after_header", [False, True])
def test_429_waits_for_the_reset_then_succeeds(sim_server, retry_after_header):
    # a window long enough that a loaded machine still lands the second submit inside it
    srv = sim_server(rate_limit=1, rate_window=4, retry_after_header=retry_after_header)
    first = httpx.post(
        srv.base_url + "/v2/veo-3.1", json={"prompt": "x", "duration": 4, "resolution": "720p"}
    )
    assert first.status_code == 200  # the window's one submit is taken
    t0 = time.perf_counter()
    result = run(provider(srv.base_url, retry_max_wait=10))
    assert time.perf_counter() - t0 >= 0.3  # it waited for the window instead of hammering
    assert submits(srv) == [200, 429, 200]
    assert result.metadata["submit_attempts"] == 2


def test_429_asking_for_longer_than_retry_max_wait_fails_at_once(sim_server):
    srv = sim_server(rate_limit=1, rate_window=60)
    run(provider(srv.base_url))
    with pytest.raises(RateLimitError) as info:
        run(provider(srv.base_url, retry_max_wait=5))
    assert 55 < info.value.retry_after <= 60
    assert str(info.value).startswith(
        "Segmind submit to veo-3.1 failed: 429 rate limited: "
        "Rate limit exceeded: 1 submits per 60 s; retry after "
    )
    assert str(info.value).endswith(" s or lower submits_per_minute")
    assert submits(srv) == [200, 429]


def test_client_limiter_keeps_under_the_server_rate_limit(sim_server):
    from veolab.providers.segmind import Limiter

    srv = sim_server(rate_limit=2, rate_window=0.3)
    # stricter than the host: requests reach it a moment after the permit (on a loaded machine,
    # a long moment), so the client's window is wider than the server's
    limiter = Limiter(max_in_flight=3, submits_per_minute=2, window=1.0)

    async def many():
        provs = [provider(srv.base_url, max_retries=0) for _ in range(5)]
        for p in provs:
            p._limiter = limiter
        try:
            return await asyncio.gather(*(p.generate(FOX) for p in provs))
        finally:
            for p in provs:
                await p.aclose()

    results = asyncio.run(many())
    assert len(results) == 5 and submits(srv) == [200] * 5  # never a 429


# -- credits ---------------------------------------------------------------------------------------


def test_credit_exhaustion_mid_experiment(sim_server):
    srv = sim_server(credits=1.7)
    first = run(provider(srv.base_url))
    second = run(provider(srv.base_url, mode="sync"))
    assert (first.remaining_credits, second.remaining_credits) == (0.9, 0.1)
    with pytest.raises(InsufficientCreditsError) as info:
        run(provider(srv.base_url))
    assert "balance $0.10, this request needs $0.80" in str(info.value)
    assert srv.ledger()["total_cost"] == 1.6


# -- lost answers: never resubmitted ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["queue", "sync"])
def test_dropped_submit_answer_is_outcome_unknown_and_not_resubmitted(sim_server, mode):
    srv = sim_server()
    srv.inject_faults({"kind": "drop", "when": "after"})
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(srv.base_url, mode=mode, max_retries=4))
    assert "the request was sent but its answer was lost (RemoteProtocolError)" in str(info.value)
    assert "may be billed; do not resubmit blindly" in str(info.value)
    assert info.value.request_id is None and info.value.exit_code == 3
    assert submits(srv) == [200]  # one POST, however many retries were allowed
    assert len(wait_for_jobs(srv, 1)) == 1  # the host did bill it


def test_submit_read_timeout_is_outcome_unknown(sim_server):
    srv = sim_server()
    srv.inject_faults({"kind": "stall", "seconds": 1.0, "when": "after"})
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(srv.base_url, read_timeout=0.3, mode="sync"))
    assert "(ReadTimeout)" in str(info.value)
    assert len(wait_for_jobs(srv, 1)) == 1
    assert wait_for(lambda: submits(srv)) == [200]  # logged once its stalled answer went out


def test_sync_body_cut_off_after_200_is_billed_not_obtained(sim_server):
    srv = sim_server()
    srv.inject_faults({"kind": "truncate"})
    with pytest.raises(OutputNotObtainedError) as info:
        run(provider(srv.base_url, mode="sync"))
    [job] = srv.ledger()["jobs"]  # the 200 came: the job is done and billed
    assert info.value.request_id == job["request_id"]
    assert str(info.value) == (
        f"Segmind job {job['request_id']} is billed, but its answer was cut off "
        "(RemoteProtocolError); veolab keeps the job id and fetches it again on the next run"
    )
    assert submits(srv) == [200]


def test_polling_that_keeps_failing_is_outcome_unknown_with_the_id(sim_server):
    srv = sim_server()
    srv.inject_faults({"route": "status", "status": 502, "count": RETRIES + 1})
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(srv.base_url))
    [job] = wait_for_jobs(srv, 1)
    assert info.value.request_id == job["request_id"]
    assert str(info.value) == (
        f"Segmind job {job['request_id']}: could not read its status "
        f"(ServerError 502, {RETRIES + 1} attempts in all); it may finish "
        "and be billed: resume it later"
    )
    assert isinstance(info.value.__cause__, ServerError)


def test_failed_job_is_generation_failed_and_unbilled(sim_server):
    srv = sim_server(credits=2)
    srv.inject_faults({"kind": "fail"})
    with pytest.raises(GenerationFailedError) as info:
        run(provider(srv.base_url))
    assert str(info.value).endswith(
        "FAILED: the model could not generate this video (simulated failure); not billed; "
        "change the prompt or parameters and try again"
    )
    assert info.value.request_id is not None
    assert (srv.ledger()["jobs"], srv.ledger()["credits_remaining"]) == ([], 2.0)


def test_resume_of_an_unknown_job_is_a_404(sim_server):
    srv = sim_server()

    async def go():
        prov = provider(srv.base_url)
        try:
            return await prov.resume(FOX, "no-such-job")
        finally:
            await prov.aclose()

    with pytest.raises(OutputNotObtainedError) as info:
        asyncio.run(go())
    assert info.value.request_id == "no-such-job"
    assert isinstance(info.value.__cause__, ProviderHTTPError)
    assert info.value.__cause__.status_code == 404
    assert str(info.value) == (
        "Segmind job no-such-job was accepted (billed once it completes), but its status was not "
        "found (404: Request no-such-job not found); Segmind keeps results about an hour, or the "
        "id is wrong; veolab keeps the job id and fetches it again on the next run"
    )
