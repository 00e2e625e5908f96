"""The fal provider against ``veolab sim serve`` over real HTTP: billing at fal's price, the
request id heard before polling, resume by that id, auto_fix and the prompt fal used, the
simulator's refusals as typed errors."""

from __future__ import annotations

import pytest
from fal_helpers import FOX, KEY, provider, run, run_resume

from veolab.errors import (
    AuthenticationError,
    FilteredError,
    InsufficientCreditsError,
    OutcomeUnknownError,
    RateLimitError,
    ValidationRejectedError,
)
from veolab.providers import verify_mp4
from veolab.providers.fal import FalProvider
from veolab.request import VideoRequest


def on(srv, **settings):
    return provider(base_url=srv.base_url, **settings)


def test_a_request_is_queued_billed_once_and_downloaded(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=10, latency=0.2)
    heard: list[tuple[str, int]] = []
    got = run(on(srv), on_submitted=lambda rid: heard.append((rid, len(srv.state.ledger))))
    verify_mp4(got.video)
    assert heard == [(got.request_id, 0)]  # named before the request was done
    ledger = srv.ledger()
    [job] = ledger["jobs"]
    assert (job["request_id"], job["model"]) == (got.request_id, "fal-ai/veo3.1")
    assert job["request_hash"] == FOX.request_hash()
    assert job["cost"] == FalProvider.price(FOX, "veo-3.1") == 0.8
    assert got.seed == 7 and got.metadata["seed_source"] == "host"
    assert "prompt_used" not in got.metadata  # fal used the prompt as sent
    counts = ledger["counts"]
    assert counts["submit"] == counts["result"] == counts["file"] == 1 and counts["status"] >= 1


def test_a_first_frame_from_a_local_file_reaches_the_host_intact(sim_server, make_png) -> None:
    srv = sim_server(api_key=KEY)
    png = make_png("first.png", (20, 200, 40))
    request = VideoRequest.build(**(FOX.model_dump() | {"image": str(png)}))
    got = run(on(srv, model="veo-3.1-fast"), request)
    [job] = srv.ledger()["jobs"]
    assert job["model"] == "fal-ai/veo3.1/fast/image-to-video"
    assert job["request_hash"] == request.request_hash()  # the image's bytes, not its path
    assert job["cost"] == 0.4
    assert got.metadata["app"] == "fal-ai/veo3.1/fast/image-to-video"


def test_resume_polls_a_queued_request_without_paying_again(sim_server) -> None:
    srv = sim_server(api_key=KEY, latency=0.6)
    with pytest.raises(OutcomeUnknownError) as info:
        run(on(srv, job_timeout=0.2))
    rid = info.value.request_id
    got = run_resume(on(srv), rid)
    verify_mp4(got.video)
    assert [j["request_id"] for j in srv.ledger()["jobs"]] == [rid]


def test_auto_fix_off_a_refused_prompt_is_filtered_on_it_is_rewritten(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=5)
    marked = FOX.model_copy(update={"prompt": "a red fox [sim:filter] in snow"})
    with pytest.raises(FilteredError) as info:
        run(on(srv), marked)
    assert "content checker" in str(info.value)
    assert srv.ledger()["jobs"] == []  # not billed
    got = run(on(srv, auto_fix=True), marked)
    verify_mp4(got.video)
    assert got.metadata["prompt_used"] == "a red fox in snow"
    assert got.metadata["auto_fix"] is True
    [job] = srv.ledger()["jobs"]
    assert job["request_hash"] == marked.request_hash() and job["prompt"] == "a red fox in snow"


def test_the_simulators_refusals_are_fals(sim_server) -> None:
    srv = sim_server(api_key=KEY, credits=0.5, rate_limit=1, rate_window=60)
    with pytest.raises(InsufficientCreditsError) as info:
        run(on(srv))
    assert info.value.status_code == 403 and "Exhausted balance" in str(info.value)
    with pytest.raises(RateLimitError):
        run(on(srv, retry_max_wait=1))
    srv = sim_server(api_key=KEY)
    with pytest.raises(AuthenticationError):
        run(provider(base_url=srv.base_url, api_key="wrong:key"))
    with pytest.raises(ValidationRejectedError, match="resolution 1080p requires duration 8"):
        run(on(srv), VideoRequest(prompt="x", resolution="1080p", duration=4, veo_rules=False))
    assert srv.ledger()["jobs"] == []


def test_over_tls_as_fal_client_reaches_it(sim_server, tmp_path, monkeypatch) -> None:
    from veolab.errors import ProviderConnectionError
    from veolab.simserver.tls import self_signed

    files = self_signed(tmp_path / "tls")
    srv = sim_server(api_key=KEY, tls_cert=str(files.cert), tls_key=str(files.key))
    monkeypatch.setenv("FAL_QUEUE_RUN_HOST", srv.base_url.removeprefix("https://"))
    with pytest.raises(ProviderConnectionError) as info:
        run(provider())  # the certificate is not trusted yet: nothing was sent
    assert "TLS certificate is not trusted" in str(info.value)
    assert "SSL_CERT_FILE" in str(info.value)
    monkeypatch.setenv("SSL_CERT_FILE", str(files.bundle))
    got = run(provider())
    verify_mp4(got.video)
    assert got.metadata["base_url"] == srv.base_url
    assert len(srv.ledger()["jobs"]) == 1
