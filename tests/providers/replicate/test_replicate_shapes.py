"""What the replicate provider sends (through ``httpx.MockTransport``): the create call's URL,
headers and ``input`` for every parameter, the model ids, the token only to Replicate."""

from __future__ import annotations

import base64

import httpx
import pytest
from replicate_helpers import API, FOX, KEY, Host, clip, prediction, provider, run

from veolab.errors import MissingKeyError, RequestError
from veolab.providers.replicate import REPLICATE, ReplicateProvider, resolve_base_url
from veolab.request import VideoRequest

OUT = "https://replicate.delivery/xezq/p1/tmp.mp4"


@pytest.fixture
def mp4() -> bytes:
    return clip()


def host(mp4: bytes, model: str = "google/veo-3.1") -> Host:
    return Host(
        {
            ("POST", f"{API}/v1/models/{model}/predictions"): [
                httpx.Response(201, json=prediction())
            ],
            ("GET", OUT): [httpx.Response(200, content=mp4, headers={"content-type": "video/mp4"})],
        }
    )


def test_the_create_call_carries_every_set_parameter_under_its_own_name(mp4, make_png) -> None:
    first, last = make_png("first.png", (200, 30, 30)), make_png("last.png", (30, 30, 200))
    request = VideoRequest.build(
        prompt="a fox",
        negative_prompt="blur",
        aspect_ratio="9:16",
        duration=6,
        resolution="720p",
        generate_audio=False,
        seed=42,
        image=str(first),
        last_frame=str(last),
    )
    scripted = host(mp4)
    run(provider(httpx.MockTransport(scripted)), request)
    [body] = scripted.bodies()
    sent = body["input"]
    assert set(body) == {"input"}
    assert {k: v for k, v in sent.items() if k not in ("image", "last_frame")} == {
        "prompt": "a fox",
        "negative_prompt": "blur",
        "aspect_ratio": "9:16",
        "duration": 6,
        "resolution": "720p",
        "generate_audio": False,
        "seed": 42,
    }
    # local files go inline as data URIs of their bytes
    assert sent["image"].startswith("data:image/png;base64,")
    assert base64.b64decode(sent["image"].split(",", 1)[1]) == first.read_bytes()
    assert base64.b64decode(sent["last_frame"].split(",", 1)[1]) == last.read_bytes()


def test_unset_parameters_are_left_out_and_urls_pass_through(mp4) -> None:
    request = VideoRequest(
        prompt="a fox",
        reference_images=["https://example.com/a.png", "https://example.com/b.png"],
    )
    scripted = host(mp4)
    run(provider(httpx.MockTransport(scripted)), request)
    [body] = scripted.bodies()
    assert body["input"] == {
        "prompt": "a fox",
        "aspect_ratio": "16:9",
        "duration": 8,
        "resolution": "1080p",
        "generate_audio": True,
        "reference_images": ["https://example.com/a.png", "https://example.com/b.png"],
    }


@pytest.mark.parametrize("model", list(REPLICATE))
def test_each_model_posts_to_its_google_model(mp4, model: str) -> None:
    scripted = host(mp4, f"google/{model}")
    result = run(provider(httpx.MockTransport(scripted), model=model))
    create = scripted.seen[0]
    assert str(create.url) == f"{API}/v1/models/google/{model}/predictions"
    assert result.metadata["host_model"] == f"google/{model}"


@pytest.mark.parametrize(("wait", "prefer"), [(60, "wait=60"), (5, "wait=5"), (0, None)])
def test_prefer_wait_and_the_token_header(mp4, wait: int, prefer: str | None) -> None:
    scripted = host(mp4)
    result = run(provider(httpx.MockTransport(scripted), wait=wait))
    create, download = scripted.seen
    assert create.headers.get("prefer") == prefer
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.headers["content-type"] == "application/json"
    # the CDN link gets no token
    assert "authorization" not in download.headers
    assert KEY not in repr(result.metadata)
    assert result.metadata["prefer_wait"] == wait


def test_a_row_the_model_cannot_serve_is_refused_before_any_request() -> None:
    scripted = Host({})
    with pytest.raises(RequestError, match="reference_images not offered by replicate veo-3"):
        run(
            provider(httpx.MockTransport(scripted), model="veo-3"),
            VideoRequest(prompt="a fox", reference_images=["https://example.com/a.png"]),
        )
    assert scripted.seen == []


def test_missing_token_is_one_error_naming_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    scripted = Host({})
    prov = ReplicateProvider({"model": "veo-3.1"}, transport=httpx.MockTransport(scripted))
    with pytest.raises(MissingKeyError) as info:
        run(prov)
    assert str(info.value) == "No Replicate API token: set REPLICATE_API_TOKEN or pass --api-key"
    assert info.value.exit_code == 2
    assert scripted.seen == []
    with pytest.raises(MissingKeyError):
        prov.check_ready()


def test_the_token_and_base_url_come_from_the_environment(monkeypatch, mp4) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://127.0.0.1:9/v1/")
    assert resolve_base_url(None) == "http://127.0.0.1:9"
    assert resolve_base_url("https://example.com") == "https://example.com"
    monkeypatch.delenv("REPLICATE_BASE_URL")
    scripted = host(mp4)
    prov = ReplicateProvider({}, transport=httpx.MockTransport(scripted))
    run(prov)
    assert scripted.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_prices_come_from_the_capability_rows() -> None:
    assert ReplicateProvider.models == ("veo-3.1", "veo-3.1-fast", "veo-3", "veo-3-fast")
    assert ReplicateProvider.price(FOX, "veo-3.1") == 0.8  # 4 s x $0.20 without audio
    assert (
        ReplicateProvider.price(FOX.model_copy(update={"generate_audio": True}), "veo-3.1") == 1.6
    )
    assert ReplicateProvider.price(FOX, "veo-3.1-fast") == 0.4
    for row in REPLICATE.values():
        assert row.price_source.startswith("https://replicate.com/google/")
        assert row.price_as_of == "2026-11"


def test_by_default_the_create_call_answers_at_once(mp4) -> None:
    # a held answer would name the prediction only after the wait: a crash meanwhile would
    # leave it billed and not resumable by id
    scripted = host(mp4)
    run(provider(httpx.MockTransport(scripted)))
    assert "prefer" not in scripted.seen[0].headers


def test_4k_is_not_offered_on_replicate() -> None:
    request = VideoRequest(prompt="a fox", resolution="4k", duration=8)
    assert ReplicateProvider.problems(request, "veo-3.1") == [
        "4k not offered by replicate veo-3.1 (720p, 1080p)"
    ]
