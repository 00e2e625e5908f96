"""Answers the simulator does not give, through ``httpx.MockTransport``: base64 output, HTML
with 200, truncated bodies, redirects to the file, odd JSON, error bodies, header parsing.

A v1 answer with a success status means the job is done and billed: whatever then keeps
veolab from the video is OutputNotObtainedError, never a complaint about the request or key."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import gzip
import json
import time

import httpx
import pytest

from veolab.errors import (
    BadRequestError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from veolab.providers.segmind import SegmindConfig, SegmindProvider
from veolab.providers.segmind.http import error_text, retry_after
from veolab.request import VideoRequest

KEY = "SG_0123456789abcdef"
API = "https://api.segmind.com"
FOX = VideoRequest(
    prompt="a red fox running through snow",
    duration=4,
    resolution="720p",
    generate_audio=False,
    seed=7,
)


@pytest.fixture
def mp4(sim_cache) -> bytes:
    if "fox" not in sim_cache:
        from veolab.providers.sim.provider import simulate

        sim_cache["fox"] = simulate(FOX)[0]
    return sim_cache["fox"]


class Host:
    """A scripted host: ``routes[(method, url)]`` -> list of responses, served in order."""

    def __init__(self, routes: dict[tuple[str, str], list[httpx.Response]]):
        self.routes = routes
        self.seen: list[tuple[str, str, str | None]] = []  # method, url, x-api-key

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, str(request.url), request.headers.get("x-api-key")))
        queue = self.routes[(request.method, str(request.url))]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def generate(host: Host, mode: str = "sync", request: VideoRequest = FOX, **settings):
    cfg = SegmindConfig(
        api_key=KEY,
        mode=mode,
        poll_interval=0.01,
        retry_backoff=0.0,
        max_retries=2,
        **settings,
    )
    prov = SegmindProvider(cfg, transport=httpx.MockTransport(host))

    async def go():
        try:
            return await prov.generate(request)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def queue_host(result: httpx.Response, extra=None) -> Host:
    rid = "r-1"
    return Host(
        {
            ("POST", f"{API}/v2/veo-3.1"): [
                httpx.Response(
                    200,
                    json={
                        "request_id": rid,
                        "status": "QUEUED",
                        "status_url": f"{API}/v2/requests/{rid}/status",
                        "response_url": f"{API}/v2/requests/{rid}",
                    },
                )
            ],
            ("GET", f"{API}/v2/requests/{rid}/status"): [
                httpx.Response(200, json={"status": "IN_PROGRESS"}),
                httpx.Response(200, json={"status": "COMPLETED"}),
            ],
            ("GET", f"{API}/v2/requests/{rid}"): [result],
            **(extra or {}),
        }
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.b64encode(b).decode(),
        lambda b: "data:video/mp4;base64," + base64.b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    ],
)
def test_base64_output_in_json(mp4, encode):
    host = queue_host(
        httpx.Response(200, json={"status": "COMPLETED", "output": [encode(mp4)], "seed": 11})
    )
    result = generate(host, mode="queue")
    assert (result.video, result.seed, result.metadata["output"]) == (mp4, 11, "base64")
    assert result.metadata["response"]["output"] == [f"<{len(encode(mp4))} characters>"]


def test_nested_output_url_on_another_host_gets_no_key(mp4):
    cdn = "https://cdn.example.net/out/r-1.mp4?X-Amz-Signature=abc"
    host = queue_host(
        httpx.Response(200, json={"output": {"video": {"url": cdn}}}),
        {("GET", cdn): [httpx.Response(200, content=mp4)]},
    )
    result = generate(host, mode="queue")
    assert result.video == mp4
    assert result.metadata["output"] == "url:https://cdn.example.net/out/r-1.mp4?…"
    keys = {url.split("?")[0]: key for _, url, key in host.seen}
    assert keys == {
        f"{API}/v2/veo-3.1": KEY,
        f"{API}/v2/requests/r-1/status": KEY,
        f"{API}/v2/requests/r-1": KEY,
        "https://cdn.example.net/out/r-1.mp4": None,
    }
    assert result.seed == 7 and result.metadata["seed_source"] == "request"
    assert result.cost is None and result.remaining_credits is None


def test_sync_redirect_to_the_file_is_followed_without_the_key(mp4):
    file_url = "https://files.example.org/veo/abc.mp4"
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(
                    302, headers={"location": file_url, "x-cost": "0.8", "x-seed-value": "5"}
                )
            ],
            ("GET", file_url): [httpx.Response(307, headers={"location": "/veo/abc-final.mp4"})],
            ("GET", "https://files.example.org/veo/abc-final.mp4"): [
                httpx.Response(200, content=mp4, headers={"content-type": "video/mp4"})
            ],
        }
    )
    result = generate(host)
    assert (result.video, result.cost, result.seed) == (mp4, 0.8, 5)
    assert [k for _, _, k in host.seen] == [KEY, None, None]


def test_redirect_loop_is_an_error(mp4):
    loop = "https://files.example.org/a.mp4"
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [httpx.Response(302, headers={"location": loop})],
            ("GET", loop): [httpx.Response(302, headers={"location": loop})],
        }
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host)
    assert str(info.value) == (
        "Segmind answered the sync call with success (billed), but the download URL redirected "
        "more than 5 times; it named no job id (x-request-id), so veolab cannot fetch the output "
        "again"
    )
    assert info.value.request_id is None


def test_html_page_with_200_is_not_a_video():
    page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>" + b" " * 2000
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(200, content=page, headers={"content-type": "text/html"})
            ]
        }
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host)
    assert str(info.value) == (
        "Segmind answered the sync call with success (billed), but its answer held no video "
        "output (an HTML page (Maintenance)); it named no job id (x-request-id), so veolab "
        "cannot fetch the output again"
    )


def test_json_without_any_video_is_an_error():
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(
                    200, json={"status": "ok", "message": "queued"}, headers={"x-request-id": "q9"}
                )
            ]
        }
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host)
    assert str(info.value) == (
        "Segmind job q9 is billed, but its answer held no video output (JSON with keys message, "
        "status); veolab keeps the job id and fetches it again on the next run"
    )
    assert info.value.request_id == "q9"


def test_truncated_mp4_is_rejected(mp4):
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(
                    200, content=mp4[: len(mp4) // 2], headers={"content-type": "video/mp4"}
                )
            ]
        }
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host)
    assert str(info.value).startswith(
        "Segmind answered the sync call with success (billed), but the body of the answer is "
        "truncated: box 'mdat' runs past the end; "
    )


def test_body_shorter_than_its_content_length(mp4):
    short = httpx.Response(
        200, content=mp4[:5000], headers={"content-length": str(len(mp4)), "x-request-id": "s1"}
    )
    with pytest.raises(OutputNotObtainedError) as info:  # a 200 sync answer cut off: billed
        generate(Host({("POST", f"{API}/v1/veo-3.1"): [short]}))
    assert info.value.request_id == "s1"
    assert "job s1 is billed, but its answer was cut off (RemoteProtocolError)" in str(info.value)
    cut = httpx.Response(200, content=mp4[:5000], headers={"content-length": str(len(mp4))})
    host = queue_host(
        httpx.Response(200, json={"output": "https://cdn.example.net/v.mp4"}),
        {("GET", "https://cdn.example.net/v.mp4"): [cut, httpx.Response(200, content=mp4)]},
    )
    assert generate(host, mode="queue").video == mp4  # a download is simply read again


def test_size_cap_stops_runaway_downloads(mp4):
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(200, content=mp4, headers={"content-type": "video/mp4"})
            ]
        }
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host, max_download_bytes=10_000)
    assert str(info.value) == (
        "Segmind answered the sync call with success (billed), but the video is over veolab's "
        f"size cap (the answer to the sync call to veo-3.1 is {len(mp4)} bytes: over the 10000 "
        "byte cap); raise max_download_bytes to take it; it named no job id (x-request-id), so "
        "veolab cannot fetch the output again"
    )


def test_gzipped_error_bodies_are_read_once(mp4):
    """A real host gzips its error JSON: the body is decoded once, and its words quoted."""

    def gz(status: int, text: str) -> httpx.Response:
        body = gzip.compress(json.dumps({"error": text}).encode())
        headers = {"content-encoding": "gzip", "content-type": "application/json"}
        return httpx.Response(status, content=body, headers=headers)

    host = Host({("POST", f"{API}/v1/veo-3.1"): [gz(403, "Model access denied")]})
    with pytest.raises(PermissionDeniedError) as info:
        generate(host)
    assert str(info.value).startswith("Segmind sync call to veo-3.1 failed: 403 forbidden: Model")
    cdn = "https://cdn.example.net/v.mp4"
    host = queue_host(
        httpx.Response(200, json={"output": cdn}),
        {("GET", cdn): [gz(403, "Request has expired")]},
    )
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host, mode="queue")
    assert str(info.value) == (
        "Segmind job r-1 is billed, but the download URL has expired (403: Request has expired); "
        "veolab keeps the job id and fetches it again on the next run"
    )


@pytest.mark.parametrize(
    ("body", "described"),
    [
        (b'{"state": "COMPLETED"}', "JSON with keys state"),
        (b'["COMPLETED"]', "JSON list"),
        (b"COMPLETED", "a text/plain body of 9 bytes"),
        (b'{"status": 3}', "JSON with keys status"),
    ],
)
def test_unreadable_status_ends_after_three_reads(body, described):
    host = queue_host(httpx.Response(200, json={"output": "unused"}))
    status = f"{API}/v2/requests/r-1/status"
    plain = {"content-type": "text/plain"}
    host.routes[("GET", status)] = [httpx.Response(200, content=body, headers=plain)]
    with pytest.raises(OutputNotObtainedError) as info:
        generate(host, mode="queue", job_timeout=3600)
    assert str(info.value) == (
        "Segmind job r-1 was accepted (billed once it completes), but its status could not be "
        f"read 3 times in a row ({described} instead of a JSON object with a status); veolab "
        "keeps the job id and fetches it again on the next run"
    )
    assert [url for _, url, _ in host.seen].count(status) == 3


def test_submit_without_request_id_is_outcome_unknown():
    host = Host({("POST", f"{API}/v2/veo-3.1"): [httpx.Response(200, text="<html>ok</html>")]})
    with pytest.raises(OutcomeUnknownError) as info:
        generate(host, mode="queue")
    assert str(info.value) == (
        "Segmind submit to veo-3.1 answered 200 without a readable "
        "request_id; the job may exist and be billed; do not resubmit "
        "blindly"
    )


def test_429_retry_after_is_honoured(mp4):
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "0"}),
                httpx.Response(200, content=mp4, headers={"content-type": "video/mp4"}),
            ]
        }
    )
    result = generate(host)
    assert result.metadata["submit_attempts"] == 2 and len(host.seen) == 2


def test_plain_text_406_content_type_is_a_bad_request_not_credits():
    host = Host({("POST", f"{API}/v1/veo-3.1"): [httpx.Response(406, text="Invalid content type")]})
    with pytest.raises(BadRequestError) as info:
        generate(host)
    assert str(info.value) == (
        "Segmind sync call to veo-3.1 failed: 406 not acceptable: Invalid "
        "content type; a veolab bug: please report it"
    )


def test_echoed_key_is_scrubbed_from_messages():
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(500, json={"error": f"upstream rejected key {KEY}"})
            ]
        }
    )
    with pytest.raises(ServerError) as info:
        generate(host)
    assert KEY not in str(info.value)
    assert "upstream rejected key ***" in str(info.value)
    assert len(host.seen) == 3  # 500 is retried (max_retries=2)


@pytest.mark.parametrize(
    ("body", "ctype", "text"),
    [
        (b'{"error": {"message": "nested"}}', "application/json", "nested"),
        (b'{"detail": "fastapi style"}', "application/json", "fastapi style"),
        (
            b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>",
            "text/html",
            "HTML page: 502 Bad Gateway",
        ),
        (b"upstream connect error", "text/plain", "upstream connect error"),
        (b"", "text/plain", "(empty body)"),
        (b"x" * 500, "text/plain", "x" * 199 + "…"),
    ],
)
def test_error_text(body, ctype, text):
    assert error_text(httpx.Response(500, content=body, headers={"content-type": ctype})) == text


def test_retry_after_forms():
    now = 1_800_000_000.0
    assert retry_after(httpx.Headers({"retry-after": "7"}), now) == 7.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after(httpx.Headers({"retry-after": date}), now) == 30.0
    iso = time.strftime("%Y-%m-%dT%H:%M:%S.500Z", time.gmtime(now + 12))
    assert retry_after(httpx.Headers({"x-rate-limit-reset-at-utc": iso}), now) == 12.5
    assert retry_after(httpx.Headers({"x-rate-limit-reset-at-utc": str(now + 4)}), now) == 4.0
    assert (
        retry_after(httpx.Headers({"x-rate-limit-reset-at-utc": "2000-01-01T00:00:00Z"}), now)
        == 0.0
    )
    assert retry_after(httpx.Headers({"retry-after": "soon"}), now) is None


def test_rate_limit_error_carries_retry_after():
    host = Host(
        {
            ("POST", f"{API}/v1/veo-3.1"): [
                httpx.Response(
                    429,
                    json={"error": "Too many requests"},
                    headers={"x-rate-limit-reset-at-utc": str(time.time() + 3600)},
                )
            ]
        }
    )
    with pytest.raises(RateLimitError) as info:
        generate(host)
    assert 3590 < info.value.retry_after <= 3600 and len(host.seen) == 1


def test_result_served_as_video_body(mp4):
    host = queue_host(
        httpx.Response(
            200,
            content=mp4,
            headers={"content-type": "video/mp4", "x-cost": "1.6", "x-remaining-credits": "8.4"},
        )
    )
    result = generate(host, mode="queue")
    assert (result.video, result.cost, result.remaining_credits) == (mp4, 1.6, 8.4)
    assert json.dumps(result.metadata)  # plain JSON, ready for a record
