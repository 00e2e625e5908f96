"""Every status and failure of fal.ai mapped onto veolab's error tree, retried only where fal
says a repeat is safe: a submit after a 429, an answer marked ``X-Fal-Retryable: true`` or an
ingress error (no ``x-fal-request-id``); never after another 5xx or a lost answer."""

from __future__ import annotations

import httpx
import pytest
from fal_helpers import KEY, QUEUE, REQ, clip, provider, result, run, run_resume, scripted, status

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    FilteredError,
    GenerationFailedError,
    InsufficientCreditsError,
    ModelNotFoundError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    ValidationRejectedError,
)

POLICY = {
    "detail": [
        {
            "loc": ["body", "prompt"],
            "msg": "The content could not be processed because it contained material flagged "
            "by a content checker.",
            "type": "content_policy_violation",
        }
    ]
}


@pytest.fixture
def mp4() -> bytes:
    return clip()


def fal_error(status: int, detail, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail}, headers=headers)


@pytest.mark.parametrize(
    ("status", "detail", "cls", "words"),
    [
        (400, "Invalid request", BadRequestError, "400 bad request: Invalid request"),
        (401, "No user found for Key ID and Secret", AuthenticationError, "check FAL_KEY"),
        (403, "Forbidden", PermissionDeniedError, "may not use the app"),
        (
            403,
            "User is locked. Reason: Exhausted balance.",
            InsufficientCreditsError,
            "403 insufficient credit: User is locked. Reason: Exhausted balance.; top up",
        ),
        (404, "Application not found", ModelNotFoundError, "check --model and FAL_BASE_URL"),
        (
            422,
            [
                {
                    "loc": ["body", "duration"],
                    "msg": "Input should be '4s', '6s' or '8s'",
                    "type": "enum",
                }
            ],
            ValidationRejectedError,
            "422 validation error: duration: Input should be '4s', '6s' or '8s'",
        ),
    ],
)
def test_error_statuses_of_a_submit_are_typed_and_not_retried(mp4, status, detail, cls, words):
    host = scripted(mp4, submit=[fal_error(status, detail)])
    with pytest.raises(ProviderHTTPError) as info:
        run(provider(httpx.MockTransport(host)))
    assert type(info.value) is cls and info.value.status_code == status
    assert str(info.value).startswith("fal.ai submit to fal-ai/veo3.1 failed:")
    assert words in str(info.value)
    assert len(host.seen) == 1 and KEY not in str(info.value)


def test_a_prompt_refused_at_submit_is_filtered(mp4) -> None:
    host = scripted(mp4, submit=[httpx.Response(422, json=POLICY)])
    with pytest.raises(FilteredError) as info:
        run(provider(httpx.MockTransport(host)))
    assert str(info.value).startswith("fal.ai submit was filtered by the host's safety system")
    assert info.value.request_id is None


@pytest.mark.parametrize(
    ("first", "retried"),
    [
        (fal_error(429, "Rate limit exceeded", **{"retry-after": "0"}), True),
        (
            fal_error(
                503,
                "runner_scheduling_failure",
                **{"x-fal-retryable": "true", "x-fal-request-id": "x"},
            ),
            True,
        ),
        (httpx.Response(502, text="<html><title>502 Bad Gateway</title>nginx</html>"), True),
        (fal_error(500, "internal error", **{"x-fal-request-id": "x"}), False),
        (
            fal_error(
                504, "Request timed out", **{"x-fal-request-id": "x", "x-fal-retryable": "false"}
            ),
            False,
        ),
    ],
)
def test_what_a_submit_retries(mp4, first, retried: bool) -> None:
    from fal_helpers import queued

    host = scripted(mp4, submit=[first, queued()])
    if retried:
        got = run(provider(httpx.MockTransport(host)))
        assert got.metadata["submit_attempts"] == 2
    else:
        with pytest.raises(OutcomeUnknownError) as info:
            run(provider(httpx.MockTransport(host)))
        assert f"answered {first.status_code}" in str(info.value)
        assert info.value.request_id == "x"
        assert len(host.seen) == 1


def test_a_lost_answer_to_a_submit_is_outcome_unknown(mp4) -> None:
    host = scripted(mp4, submit=[httpx.RemoteProtocolError("reset")])
    with pytest.raises(OutcomeUnknownError, match="answer was lost"):
        run(provider(httpx.MockTransport(host)))
    assert len(host.seen) == 1


def test_a_request_completed_with_an_error_is_a_failed_generation(mp4) -> None:
    failed = status(error="runner crashed", error_type="runner_server_error")
    host = scripted(
        mp4, status=[failed], result=[httpx.Response(500, json={"detail": "runner crashed"})]
    )
    with pytest.raises(GenerationFailedError) as info:
        run(provider(httpx.MockTransport(host)))
    assert type(info.value) is GenerationFailedError
    assert str(info.value) == (
        "fal.ai request r1 failed: runner crashed; not billed; change the prompt or parameters "
        "and try again"
    )


@pytest.mark.parametrize("where", ["status", "result"])
def test_a_content_policy_refusal_is_filtered(mp4, where: str) -> None:
    if where == "status":
        routes = {"status": [status(error="flagged", error_type="content_policy_violation")]}
    else:  # the status says done, the result holds the refusal
        routes = {"result": [httpx.Response(422, json=POLICY)]}
    host = scripted(mp4, **routes)
    heard: list[str] = []
    with pytest.raises(FilteredError) as info:
        run(provider(httpx.MockTransport(host)), on_submitted=heard.append)
    assert info.value.request_id == "r1" and heard == ["r1"]
    assert "filtered by the host's safety system" in str(info.value)


def test_status_reads_are_retried_then_leave_the_outcome_unknown(mp4) -> None:
    host = scripted(
        mp4,
        status=[fal_error(502, "x"), httpx.ReadTimeout("slow"), status("IN_PROGRESS"), status()],
    )
    assert run(provider(httpx.MockTransport(host))).request_id == "r1"
    down = scripted(mp4, status=[fal_error(503, "x")])
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(httpx.MockTransport(down)))
    assert info.value.request_id == "r1"
    assert "could not read its status (ServerError 503, 3 attempts in all)" in str(info.value)


@pytest.mark.parametrize(
    ("routes", "words"),
    [
        ({"result": [fal_error(404, "Request not found")]}, "its result was not found (404"),
        ({"result": [fal_error(500, "x")]}, "its result could not be read (ServerError 500"),
        ({"result": [result(video=None)]}, "its result held no video URL"),
        ({"video": [httpx.Response(410, text="expired")]}, "the video has expired (410"),
        ({"video": [httpx.Response(200, content=b"<html>no</html>")]}, "an HTML page"),
    ],
)
def test_a_completed_request_whose_video_cannot_be_had_is_billed_not_obtained(
    mp4, routes, words
) -> None:
    host = scripted(mp4, **routes)
    with pytest.raises(OutputNotObtainedError) as info:
        run_resume(provider(httpx.MockTransport(host)), "r1")
    assert info.value.request_id == "r1"
    assert "fal.ai job r1 is billed, but" in str(info.value) and words in str(info.value)


def test_rate_limit_for_good_and_a_server_error_after_retries(mp4) -> None:
    host = scripted(mp4, submit=[fal_error(429, "slow down", **{"retry-after": "0"})])
    with pytest.raises(RateLimitError):
        run(provider(httpx.MockTransport(host), max_retries=1))
    assert len(host.seen) == 2
    ingress = httpx.Response(503, text="<html>nginx</html>")
    host = scripted(mp4, submit=[ingress])
    with pytest.raises(ServerError, match="503 service unavailable"):
        run(provider(httpx.MockTransport(host), max_retries=1))
    assert len(host.seen) == 2


def test_a_request_that_never_completes_is_outcome_unknown_with_its_id(mp4) -> None:
    host = scripted(mp4, status=[status("IN_QUEUE")])
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(httpx.MockTransport(host), job_timeout=0.05))
    assert info.value.request_id == "r1" and "still IN_QUEUE" in str(info.value)
    assert str(host.seen[0].url) == f"{QUEUE}/fal-ai/veo3.1"
    assert str(host.seen[1].url).startswith(f"{REQ}/status")
