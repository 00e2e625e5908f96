"""Every status and failure of Replicate mapped onto veolab's error tree, and retried only where
that cannot pay twice: a create call is repeated after a 429 or a connection that never reached
Replicate, never after a 5xx or a lost answer (the prediction may exist)."""

from __future__ import annotations

import httpx
import pytest
from replicate_helpers import API, KEY, Host, clip, prediction, provider, run, run_resume

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
    ProviderConnectionError,
    ProviderHTTPError,
    RateLimitError,
    ValidationRejectedError,
)

CREATE = ("POST", f"{API}/v1/models/google/veo-3.1/predictions")
READ = ("GET", f"{API}/v1/predictions/p1")
OUT = ("GET", "https://replicate.delivery/xezq/p1/tmp.mp4")


@pytest.fixture
def mp4() -> bytes:
    return clip()


def problem(status: int, title: str, detail: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"title": title, "detail": detail, "status": status},
        headers={"content-type": "application/problem+json", **headers},
    )


@pytest.mark.parametrize(
    ("status", "cls", "words"),
    [
        (400, BadRequestError, "400 bad request: Bad request: input is not an object"),
        (401, AuthenticationError, "check REPLICATE_API_TOKEN"),
        (402, InsufficientCreditsError, "add credit at replicate.com/account/billing"),
        (403, PermissionDeniedError, "may not run the model"),
        (404, ModelNotFoundError, "check --model and REPLICATE_BASE_URL"),
        (422, ValidationRejectedError, "- input.duration: must be one of 4, 6, 8"),
        (418, ProviderHTTPError, "418 error"),
    ],
)
def test_error_statuses_of_the_create_call_are_typed_and_not_retried(status, cls, words) -> None:
    detail = {
        400: "input is not an object",
        422: "- input.duration: must be one of 4, 6, 8",
    }.get(status, "no")
    scripted = Host({CREATE: [problem(status, "Bad request" if status == 400 else "x", detail)]})
    with pytest.raises(ProviderHTTPError) as info:
        run(provider(httpx.MockTransport(scripted)))
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert words in str(info.value)
    assert str(info.value).startswith("Replicate create of a google/veo-3.1 prediction failed:")
    assert len(scripted.seen) == 1
    assert KEY not in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_to_the_create_call_is_outcome_unknown_and_never_repeated(status: int) -> None:
    scripted = Host({CREATE: [problem(status, "Internal Server Error", "upstream")]})
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(httpx.MockTransport(scripted)))
    assert len(scripted.seen) == 1  # a second create could pay twice
    assert f"answered {status}" in str(info.value)
    assert "--resubmit-unknown pays again" in str(info.value)
    assert info.value.details == {"status": status, "error": "ServerError"}


def test_429_is_retried_after_the_wait_replicate_asks_for(mp4) -> None:
    throttled = problem(
        429, "Request was throttled.", "Expected available in 1 second", **{"retry-after": "0"}
    )
    scripted = Host(
        {
            CREATE: [throttled, httpx.Response(201, json=prediction())],
            OUT: [httpx.Response(200, content=mp4)],
        }
    )
    result = run(provider(httpx.MockTransport(scripted)))
    assert result.metadata["submit_attempts"] == 2
    assert result.request_id == "p1"


def test_429_for_good_is_a_rate_limit_error() -> None:
    throttled = problem(
        429, "Request was throttled.", "Expected available in 1 second", **{"retry-after": "0"}
    )
    scripted = Host({CREATE: [throttled]})
    with pytest.raises(RateLimitError) as info:
        run(provider(httpx.MockTransport(scripted), max_retries=1))
    assert len(scripted.seen) == 2 and info.value.retry_after == 0


def test_a_connection_that_never_reached_replicate_is_retried(mp4) -> None:
    scripted = Host(
        {
            CREATE: [httpx.ConnectError("refused"), httpx.Response(201, json=prediction())],
            OUT: [httpx.Response(200, content=mp4)],
        }
    )
    assert run(provider(httpx.MockTransport(scripted))).metadata["submit_attempts"] == 2
    scripted = Host({CREATE: [httpx.ConnectError("refused")]})
    with pytest.raises(ProviderConnectionError, match="check the network and REPLICATE_BASE_URL"):
        run(provider(httpx.MockTransport(scripted)))
    assert len(scripted.seen) == 3


def test_an_answer_lost_after_the_create_was_sent_is_outcome_unknown() -> None:
    scripted = Host({CREATE: [httpx.ReadTimeout("slow")]})
    with pytest.raises(OutcomeUnknownError, match="the request was sent but its answer was lost"):
        run(provider(httpx.MockTransport(scripted)))
    assert len(scripted.seen) == 1


def test_a_created_answer_without_an_id_is_outcome_unknown() -> None:
    scripted = Host({CREATE: [httpx.Response(201, json={"status": "starting"})]})
    heard: list[str] = []
    with pytest.raises(OutcomeUnknownError, match="no prediction id"):
        run(provider(httpx.MockTransport(scripted)), on_submitted=heard.append)
    assert heard == []


@pytest.mark.parametrize(
    ("fields", "cls", "words"),
    [
        (
            {"status": "failed", "error": "CUDA out of memory"},
            GenerationFailedError,
            "failed: CUDA",
        ),
        (
            {
                "status": "failed",
                "error": "The input or output was flagged as sensitive. Please try again "
                "with different inputs. (E005)",
            },
            FilteredError,
            "filtered by the host's safety system",
        ),
        ({"status": "canceled"}, GenerationFailedError, "canceled: prediction canceled"),
    ],
)
def test_a_prediction_that_fails_is_a_failed_generation_not_billed(fields, cls, words) -> None:
    scripted = Host(
        {
            CREATE: [httpx.Response(201, json=prediction(status="processing"))],
            READ: [httpx.Response(200, json=prediction(**fields))],
        }
    )
    heard: list[str] = []
    with pytest.raises(GenerationFailedError) as info:
        run(provider(httpx.MockTransport(scripted)), on_submitted=heard.append)
    assert type(info.value) is cls and words in str(info.value)
    assert info.value.request_id == "p1" and heard == ["p1"]
    if cls is FilteredError:
        assert info.value.reasons == [fields["error"]]


def test_reads_are_retried_and_then_leave_the_outcome_unknown(mp4) -> None:
    flaky = Host(
        {
            CREATE: [httpx.Response(201, json=prediction(status="starting"))],
            READ: [
                problem(502, "Bad Gateway", "x"),
                httpx.ReadError("reset"),
                httpx.Response(200, json=prediction()),
            ],
            OUT: [problem(503, "Unavailable", "x"), httpx.Response(200, content=mp4)],
        }
    )
    result = run(provider(httpx.MockTransport(flaky)))
    assert result.metadata["reads"] == 3
    down = Host(
        {
            CREATE: [httpx.Response(201, json=prediction(status="starting"))],
            READ: [problem(500, "Internal Server Error", "x")],
        }
    )
    with pytest.raises(OutcomeUnknownError, match="could not read it .ServerError 500, 3 attempts"):
        run(provider(httpx.MockTransport(down)))
    assert len(down.seen) == 1 + 3  # one create, the reads retried


def test_an_output_deleted_after_the_hour_is_billed_not_obtained() -> None:
    removed = prediction(output=None, data_removed=True)
    scripted = Host({READ: [httpx.Response(200, json=removed)]})
    with pytest.raises(OutputNotObtainedError) as info:
        run_resume(provider(httpx.MockTransport(scripted)), "p1")
    assert "is billed, but its output was removed (Replicate deletes" in str(info.value)
    assert info.value.request_id == "p1"
    gone = Host(
        {
            READ: [httpx.Response(200, json=prediction())],
            OUT: [httpx.Response(404, text="Not Found")],
        }
    )
    with pytest.raises(OutputNotObtainedError, match="the video was not found .404"):
        run_resume(provider(httpx.MockTransport(gone)), "p1")


def test_an_output_that_is_not_a_video_is_not_obtained() -> None:
    scripted = Host(
        {
            READ: [httpx.Response(200, json=prediction())],
            OUT: [httpx.Response(200, text="<html><title>Oops</title></html>")],
        }
    )
    with pytest.raises(OutputNotObtainedError, match="is an HTML page, not a video"):
        run_resume(provider(httpx.MockTransport(scripted)), "p1")


def test_a_prediction_that_never_finishes_is_outcome_unknown_with_its_id() -> None:
    scripted = Host(
        {
            CREATE: [httpx.Response(201, json=prediction(status="starting"))],
            READ: [httpx.Response(200, json=prediction(status="processing"))],
        }
    )
    with pytest.raises(OutcomeUnknownError) as info:
        run(provider(httpx.MockTransport(scripted), job_timeout=0.05))
    assert info.value.request_id == "p1" and "job_timeout" in str(info.value)
