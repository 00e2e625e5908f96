"""The replicate provider against ``veolab sim serve`` over real HTTP: both ways of waiting,
billing at Replicate's price, the prediction id heard before the wait, resume by that id, the
simulator's faults and refusals as typed errors."""

from __future__ import annotations

import pytest
from replicate_helpers import FOX, KEY, provider, run, run_resume

from veolab.errors import (
    AuthenticationError,
    FilteredError,
    InsufficientCreditsError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    RateLimitError,
    ValidationRejectedError,
)
from veolab.providers import verify_mp4
from veolab.providers.replicate import ReplicateProvider
from veolab.request import VideoRequest


def on(srv, **settings) -> ReplicateProvider:
    return provider(base_url=srv.base_url, **settings)


@pytest.mark.parametrize("wait", [60, 0])
def test_a_prediction_is_made_billed_once_and_downloaded(sim_server, wait: int) -> None:
    srv = sim_server(api_key=KEY, credits=10, latency=0.2)
    result = run(on(srv, wait=wait))
    verify_mp4(result.video)
    ledger = srv.ledger()
    [job] = ledger["jobs"]
    assert job["request_id"] == result.request_id
    assert job["model"] == "google/veo-3.1"
    assert job["request_hash"] == FOX.request_hash()
    assert job["cost"] == ReplicateProvider.price(FOX, "veo-3.1") == 0.8
    assert ledger["credits_remaining"] == 9.2
    assert result.seed == 7 and result.metadata["seed_source"] == "host"
    assert result.cost is None  # Replicate does not say: the run is charged the table's price
    assert result.metadata["output"].startswith(f"url:{srv.base_url}/replicate/delivery/")
    counts = ledger["counts"]
    assert counts["submit"] == 1 and counts["file"] == 1
    if wait:  # the create call held the answer until the prediction was done
        assert "status" not in counts
    else:
        assert counts["status"] >= 1
    assert result.timings.total >= result.timings.generating > 0


def test_the_prediction_id_is_heard_before_the_wait(sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.3)
    heard: list[tuple[str, int]] = []
    result = run(
        on(srv, wait=0), on_submitted=lambda pid: heard.append((pid, len(srv.state.ledger)))
    )
    assert heard == [(result.request_id, 0)]  # named while the prediction was still running


def test_resume_reads_a_created_prediction_without_paying_again(sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.6, credits=2)
    with pytest.raises(OutcomeUnknownError) as info:
        run(on(srv, wait=0, job_timeout=0.2))
    pid = info.value.request_id
    assert pid is not None and "job_timeout" in str(info.value)
    result = run_resume(on(srv), pid)
    verify_mp4(result.video)
    assert [j["request_id"] for j in srv.ledger()["jobs"]] == [pid]
    assert result.metadata["resumed"] is True and result.metadata["submit_attempts"] == 0


def test_an_expired_output_url_is_billed_and_fetched_again_by_id(sim_server) -> None:
    srv = sim_server(api_key=KEY)
    srv.inject_faults({"route": "file", "status": 410, "message": "Output has expired"})
    with pytest.raises(OutputNotObtainedError) as info:
        run(on(srv))
    assert "is billed, but the video has expired (410" in str(info.value)
    pid = info.value.request_id
    result = run_resume(on(srv), pid)  # the link works again: fetched, not paid again
    verify_mp4(result.video)
    assert len(srv.ledger()["jobs"]) == 1


def test_a_filtered_prediction_is_a_filtered_error_and_costs_nothing(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=5)
    with pytest.raises(FilteredError) as info:
        run(on(srv), FOX.model_copy(update={"prompt": "a fox [sim:filter]"}))
    assert "(E005)" in str(info.value) and info.value.request_id
    assert srv.ledger()["jobs"] == [] and srv.ledger()["credits_remaining"] == 5


def test_the_simulators_refusals_are_replicates(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=0.5, rate_limit=1, rate_window=60)
    with pytest.raises(InsufficientCreditsError) as info:
        run(on(srv))
    assert info.value.status_code == 402 and "insufficient credit" in str(info.value)
    with pytest.raises(RateLimitError) as limited:  # the window's one submit is used
        run(on(srv, retry_max_wait=1))
    assert limited.value.retry_after and limited.value.retry_after > 1
    srv = sim_server(api_key=KEY)
    with pytest.raises(AuthenticationError, match="401"):
        run(provider(base_url=srv.base_url, api_key="r8_wrong_token_000"))
    with pytest.raises(ValidationRejectedError, match="422"):
        run(
            on(srv, max_retries=0),
            VideoRequest(prompt="x", resolution="1080p", duration=4, veo_rules=False),
        )
    assert srv.ledger()["jobs"] == []
