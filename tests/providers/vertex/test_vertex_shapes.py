"""The vertex provider's wire: the body for every parameter, each status mapped to the error
tree, what is retried, and answers the simulator does not give, through
``httpx.MockTransport``. The token goes to the Vertex and storage endpoints only."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    FilteredError,
    GenerationFailedError,
    MissingKeyError,
    ModelNotFoundError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderConnectionError,
    RateLimitError,
    RequestError,
    ServerError,
)
from veolab.providers.vertex import VertexConfig, VertexProvider
from veolab.request import VideoRequest

TOKEN = "ya29.test-token-0123456789"
API = "https://us-central1-aiplatform.googleapis.com"
RESOURCE = "projects/proj/locations/us-central1/publishers/google/models/veo-3.1-generate-001"
SUBMIT = f"{API}/v1/{RESOURCE}:predictLongRunning"
FETCH = f"{API}/v1/{RESOURCE}:fetchPredictOperation"
OP = f"{RESOURCE}/operations/1234-abcd"
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


def gerror(status: int, name: str, message: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": status, "message": message, "status": name}}
    return httpx.Response(status, json=body, headers=headers)


def done(mp4: bytes) -> httpx.Response:
    video = {"bytesBase64Encoded": base64.b64encode(mp4).decode(), "mimeType": "video/mp4"}
    return httpx.Response(200, json={"name": OP, "done": True, "response": {"videos": [video]}})


class Host:
    """A scripted Vertex: ``routes[url]`` -> list of responses (or exceptions), in order."""

    def __init__(self, routes: dict[str, list[httpx.Response | Exception]]):
        self.routes = routes
        self.seen: list[tuple[str, str, str | None, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.seen.append(
            (request.method, str(request.url), request.headers.get("authorization"), body)
        )
        queue = self.routes[str(request.url)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self, url: str) -> int:
        return sum(1 for _, u, _, _ in self.seen if u == url)


def provider(host: Host, **settings) -> VertexProvider:
    fields = {
        "api_key": TOKEN,
        "project": "proj",
        "location": "us-central1",
        "poll_interval": 0.01,
        "retry_backoff": 0.0,
        "max_retries": 2,
        "submits_per_minute": None,
    }
    cfg = VertexConfig(**(fields | settings))
    return VertexProvider(cfg, transport=httpx.MockTransport(host))


def generate(host: Host, request: VideoRequest = FOX, ids: list | None = None, **settings):
    prov = provider(host, **settings)

    async def go():
        try:
            return await prov.generate(
                request, on_submitted=(ids if ids is not None else []).append
            )
        finally:
            await prov.aclose()

    return asyncio.run(go())


def test_the_body_carries_every_parameter(mp4, make_png) -> None:
    first = make_png("first.png", (200, 30, 30))
    last = make_png("last.png", (30, 30, 200))
    req = VideoRequest.build(
        prompt="a fox",
        negative_prompt="blur",
        aspect_ratio="9:16",
        duration=8,
        resolution="1080p",
        generate_audio=True,
        seed=4_000_000_000,
        image=str(first),
        last_frame=str(last),
    )
    host = Host({SUBMIT: [httpx.Response(200, json={"name": OP})], FETCH: [done(mp4)]})
    ids: list[str] = []
    result = generate(
        host,
        req,
        ids,
        sample_count=1,
        person_generation="allow_adult",
        storage_uri="gs://bucket/out/",
        enhance_prompt=False,
    )
    method, url, auth, body = host.seen[0]
    assert (method, url, auth) == ("POST", SUBMIT, f"Bearer {TOKEN}")
    assert body == {
        "instances": [
            {
                "prompt": "a fox",
                "image": {
                    "bytesBase64Encoded": base64.b64encode(first.read_bytes()).decode(),
                    "mimeType": "image/png",
                },
                "lastFrame": {
                    "bytesBase64Encoded": base64.b64encode(last.read_bytes()).decode(),
                    "mimeType": "image/png",
                },
            }
        ],
        "parameters": {
            "aspectRatio": "9:16",
            "durationSeconds": 8,
            "resolution": "1080p",
            "generateAudio": True,
            "sampleCount": 1,
            "enhancePrompt": False,
            "negativePrompt": "blur",
            "seed": 4_000_000_000,
            "personGeneration": "allow_adult",
            "storageUri": "gs://bucket/out/",
        },
    }
    assert host.seen[1][1:] == (FETCH, f"Bearer {TOKEN}", {"operationName": OP})
    assert ids == [OP] and result.request_id == OP
    assert result.video == mp4 and result.seed == 4_000_000_000 and result.cost is None
    assert result.metadata["output"] == "base64" and result.metadata["sent"]["instances"]


def test_defaults_send_one_sample_and_no_prompt_rewrite(mp4, make_png) -> None:
    ref = make_png("ref.png", (20, 200, 40))
    req = VideoRequest.build(prompt="a kite", duration=8, reference_images=[str(ref)])
    host = Host({SUBMIT: [httpx.Response(200, json={"name": OP})], FETCH: [done(mp4)]})
    generate(host, req)
    body = host.seen[0][3]
    assert body["parameters"] == {
        "aspectRatio": "16:9",
        "durationSeconds": 8,
        "resolution": "1080p",
        "generateAudio": True,
        "sampleCount": 1,
        "enhancePrompt": False,
    }
    assert body["instances"][0]["referenceImages"] == [
        {
            "image": {
                "bytesBase64Encoded": base64.b64encode(ref.read_bytes()).decode(),
                "mimeType": "image/png",
            },
            "referenceType": "asset",
        }
    ]


def test_an_image_url_is_refused_before_anything_is_sent() -> None:
    host = Host({})
    req = VideoRequest(prompt="a fox", image="https://example.com/a.png")
    with pytest.raises(RequestError) as caught:
        generate(host, req)
    assert str(caught.value) == (
        "image: Vertex AI takes images as bytes, not URLs (got https://example.com/a.png); "
        "download it and give the file path or a data: URI"
    )
    assert caught.value.exit_code == 2 and host.seen == []


@pytest.mark.parametrize(
    ("answer", "error", "tries"),
    [
        (gerror(400, "INVALID_ARGUMENT", "bad aspect"), BadRequestError, 1),
        (gerror(400, "FAILED_PRECONDITION", "billing off"), BadRequestError, 1),
        (gerror(401, "UNAUTHENTICATED", "bad token"), AuthenticationError, 1),
        (gerror(403, "PERMISSION_DENIED", "API off"), PermissionDeniedError, 1),
        (gerror(404, "NOT_FOUND", "no model"), ModelNotFoundError, 1),
        (gerror(429, "RESOURCE_EXHAUSTED", "quota"), RateLimitError, 3),
        (gerror(500, "INTERNAL", "oops"), ServerError, 1),
        (gerror(503, "UNAVAILABLE", "busy"), ServerError, 3),
        (gerror(502, "UNAVAILABLE", "gateway"), OutcomeUnknownError, 1),
        (gerror(504, "DEADLINE_EXCEEDED", "slow"), OutcomeUnknownError, 1),
        (httpx.ConnectError("refused"), ProviderConnectionError, 3),
        (httpx.ReadTimeout("lost"), OutcomeUnknownError, 1),
    ],
)
def test_each_submit_failure_maps_to_the_tree_and_only_safe_ones_are_retried(
    answer, error, tries
) -> None:
    host = Host({SUBMIT: [answer]})
    with pytest.raises(error) as caught:
        generate(host)
    assert host.calls(SUBMIT) == tries  # max_retries 2: three tries where retried
    assert TOKEN not in str(caught.value)
    if isinstance(answer, httpx.Response):
        message = answer.json()["error"]["message"]
        assert message in str(caught.value)


def test_a_retried_429_then_an_accepted_submit_is_one_operation(mp4) -> None:
    host = Host(
        {
            SUBMIT: [
                gerror(429, "RESOURCE_EXHAUSTED", "quota"),
                httpx.Response(200, json={"name": OP}),
            ],
            FETCH: [done(mp4)],
        }
    )
    result = generate(host)
    assert host.calls(SUBMIT) == 2 and result.metadata["submit_attempts"] == 2


def test_reads_are_retried_on_every_transient_failure_and_then_unknown(mp4) -> None:
    flaky = [
        gerror(500, "INTERNAL", "x"),
        gerror(502, "UNAVAILABLE", "x"),
        httpx.ReadTimeout("lost"),
        httpx.Response(200, json={"name": OP}),
        done(mp4),
    ]
    host = Host({SUBMIT: [httpx.Response(200, json={"name": OP})], FETCH: flaky})
    assert generate(host, max_retries=3).video == mp4
    host = Host(
        {SUBMIT: [httpx.Response(200, json={"name": OP})], FETCH: [gerror(503, "UNAVAILABLE", "x")]}
    )
    with pytest.raises(OutcomeUnknownError) as caught:
        generate(host)
    assert caught.value.request_id == OP and "resume it later" in str(caught.value)


def test_a_refused_read_of_an_accepted_operation_is_not_obtained() -> None:
    host = Host(
        {
            SUBMIT: [httpx.Response(200, json={"name": OP})],
            FETCH: [gerror(404, "NOT_FOUND", "gone")],
        }
    )
    with pytest.raises(OutputNotObtainedError) as caught:
        generate(host)
    assert caught.value.request_id == OP and host.calls(FETCH) == 1


def test_filtered_outputs_are_a_typed_outcome_with_the_reasons() -> None:
    reason = "Veo could not generate videos because the input image violates usage guidelines."
    answer = {
        "name": OP,
        "done": True,
        "response": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [reason]},
    }
    host = Host(
        {
            SUBMIT: [httpx.Response(200, json={"name": OP})],
            FETCH: [httpx.Response(200, json=answer)],
        }
    )
    with pytest.raises(FilteredError) as caught:
        generate(host)
    assert caught.value.reasons == [reason] and caught.value.request_id == OP
    assert isinstance(caught.value, GenerationFailedError)
    assert "filtered by the host's safety system" in str(caught.value)


def test_a_done_operation_with_an_error_fails_and_a_safety_one_is_filtered() -> None:
    for message, cls in [
        ("Internal error while generating", GenerationFailedError),
        (
            "The prompt contains sensitive words that violate Google's Responsible AI practices",
            FilteredError,
        ),
    ]:
        answer = {"name": OP, "done": True, "error": {"code": 3, "message": message}}
        host = Host(
            {
                SUBMIT: [httpx.Response(200, json={"name": OP})],
                FETCH: [httpx.Response(200, json=answer)],
            }
        )
        with pytest.raises(GenerationFailedError) as caught:
            generate(host)
        assert type(caught.value) is cls and message in str(caught.value)


def test_a_gcs_output_is_downloaded_with_the_token_through_the_storage_api(mp4) -> None:
    uri = "gs://my-bucket/out/run 1/sample_0.mp4"
    gcs = "https://storage.googleapis.com/storage/v1/b/my-bucket/o/out%2Frun%201%2Fsample_0.mp4?alt=media"
    answer = {
        "name": OP,
        "done": True,
        "response": {"videos": [{"gcsUri": uri, "mimeType": "video/mp4"}]},
    }
    host = Host(
        {
            SUBMIT: [httpx.Response(200, json={"name": OP})],
            FETCH: [httpx.Response(200, json=answer)],
            gcs: [httpx.Response(200, content=mp4)],
        }
    )
    result = generate(host, storage_uri="gs://my-bucket/out/")
    assert result.video == mp4 and result.metadata["output"] == f"gcs:{uri}"
    assert host.seen[-1][:3] == ("GET", gcs, f"Bearer {TOKEN}")
    host = Host(
        {
            SUBMIT: [httpx.Response(200, json={"name": OP})],
            FETCH: [httpx.Response(200, json=answer)],
            gcs: [gerror(403, "PERMISSION_DENIED", "no access")],
        }
    )
    with pytest.raises(OutputNotObtainedError) as caught:
        generate(host, storage_uri="gs://my-bucket/out/")
    assert "read access to the bucket" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"name": OP, "done": True, "response": {"videos": []}},
        {"name": OP, "done": True, "response": {"videos": [{"bytesBase64Encoded": "!!!"}]}},
        {"name": OP, "done": True, "response": {"videos": [{"bytesBase64Encoded": "aGVsbG8="}]}},
        {"name": OP, "done": True, "response": {"videos": [{"mimeType": "video/mp4"}]}},
    ],
    ids=["no-videos", "bad-base64", "not-an-mp4", "neither"],
)
def test_a_done_answer_without_a_usable_video_is_billed_not_obtained(answer) -> None:
    host = Host(
        {
            SUBMIT: [httpx.Response(200, json={"name": OP})],
            FETCH: [httpx.Response(200, json=answer)],
        }
    )
    with pytest.raises(OutputNotObtainedError) as caught:
        generate(host)
    assert caught.value.request_id == OP and "is done (billed)" in str(caught.value)


def test_a_submit_answer_without_an_operation_name_is_unknown() -> None:
    host = Host({SUBMIT: [httpx.Response(200, json={"done": False})]})
    with pytest.raises(OutcomeUnknownError):
        generate(host)


def test_missing_credentials_name_both_ways(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    prov = VertexProvider(VertexConfig(project="proj"))
    with pytest.raises(MissingKeyError) as caught:
        prov.check_ready()
    assert str(caught.value).startswith(
        "No Vertex AI credentials: set VEOLAB_VERTEX_TOKEN to an access token (gcloud auth "
        "print-access-token) or set up application default credentials"
    )
    assert caught.value.exit_code == 2


def test_a_token_from_the_environment_and_no_project_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    prov = VertexProvider(VertexConfig())
    with pytest.raises(Exception) as caught:
        prov.check_ready()
    assert str(caught.value) == (
        "no Google Cloud project for vertex: set GOOGLE_CLOUD_PROJECT or the provider's project:"
    )
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    prov = VertexProvider(VertexConfig())
    prov.check_ready()
    assert prov.where() == (API, "https://storage.googleapis.com", "proj", "us-central1")
