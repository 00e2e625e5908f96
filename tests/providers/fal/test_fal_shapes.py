"""What the fal provider sends (through ``httpx.MockTransport``): the app chosen from the
request, its input for every parameter ("4s" durations, auto_fix always, fal's image names),
the key only to fal's queue."""

from __future__ import annotations

import base64

import httpx
import pytest
from fal_helpers import (
    FOX,
    KEY,
    OUT,
    QUEUE,
    REQ,
    Host,
    clip,
    provider,
    result,
    run,
    scripted,
    status,
)

from veolab.errors import MissingKeyError, RequestError
from veolab.providers.fal import FAL, FalConfig, FalProvider, resolve_base_url
from veolab.providers.fal.provider import key_from_env
from veolab.request import VideoRequest

A, B, C = (f"https://example.com/{n}.png" for n in "abc")


@pytest.fixture
def mp4() -> bytes:
    return clip()


@pytest.mark.parametrize(
    ("model", "images", "app", "sent"),
    [
        ("veo-3.1", {}, "fal-ai/veo3.1", {}),
        ("veo-3.1-fast", {}, "fal-ai/veo3.1/fast", {}),
        ("veo-3.1", {"image": A}, "fal-ai/veo3.1/image-to-video", {"image_url": A}),
        ("veo-3.1-fast", {"image": A}, "fal-ai/veo3.1/fast/image-to-video", {"image_url": A}),
        (
            "veo-3.1",
            {"image": A, "last_frame": B},
            "fal-ai/veo3.1/first-last-frame-to-video",
            {"first_frame_url": A, "last_frame_url": B},
        ),
        (
            "veo-3.1-fast",
            {"image": A, "last_frame": B},
            "fal-ai/veo3.1/fast/first-last-frame-to-video",
            {"first_frame_url": A, "last_frame_url": B},
        ),
        (
            "veo-3.1",
            {"reference_images": [A, B, C], "duration": 8, "seed": None},
            "fal-ai/veo3.1/reference-to-video",
            {"image_urls": [A, B, C]},
        ),
    ],
)
def test_the_app_follows_the_request(mp4, model, images, app, sent) -> None:
    request = VideoRequest(**(FOX.model_dump() | images))
    host = scripted(mp4, app)
    got = run(provider(httpx.MockTransport(host), model=model), request)
    submit = host.seen[0]
    assert str(submit.url) == f"{QUEUE}/{app}"
    [body] = host.bodies()
    common = {
        "prompt": FOX.prompt,
        "aspect_ratio": "16:9",
        "duration": f"{request.duration}s",
        "resolution": "720p",
        "generate_audio": False,
        "auto_fix": False,
    }
    if request.seed is not None:
        common["seed"] = 7
    assert body == common | sent
    # status and result live under the owner and alias, whichever app was used
    assert [str(r.url).split("?")[0] for r in host.seen[1:3]] == [f"{REQ}/status", REQ]
    assert got.metadata["app"] == app and got.request_id == "r1"


def test_every_parameter_and_fals_own_options(mp4, make_png) -> None:
    first = make_png("first.png", (200, 30, 30))
    request = VideoRequest.build(
        prompt="a fox",
        negative_prompt="blur",
        aspect_ratio="9:16",
        duration=6,
        resolution="720p",
        generate_audio=True,
        seed=42,
        image=str(first),
    )
    host = scripted(mp4, "fal-ai/veo3.1/image-to-video")
    got = run(provider(httpx.MockTransport(host), auto_fix=True, safety_tolerance="2"), request)
    [body] = host.bodies()
    image = body.pop("image_url")
    assert body == {
        "prompt": "a fox",
        "negative_prompt": "blur",
        "aspect_ratio": "9:16",
        "duration": "6s",
        "resolution": "720p",
        "generate_audio": True,
        "seed": 42,
        "auto_fix": True,
        "safety_tolerance": "2",
    }
    assert base64.b64decode(image.split(",", 1)[1]) == first.read_bytes()
    assert got.metadata["auto_fix"] is True


def test_the_key_goes_to_the_queue_only(mp4) -> None:
    host = scripted(mp4)
    got = run(provider(httpx.MockTransport(host)))
    assert [r.headers.get("authorization") for r in host.seen] == [f"Key {KEY}"] * 3 + [None]
    assert KEY not in repr(got.metadata)
    assert str(host.seen[-1].url) == OUT


def test_the_reference_app_takes_no_seed_or_negative_prompt() -> None:
    request = VideoRequest(prompt="a fox", reference_images=[A], seed=3, negative_prompt="blur")
    assert FalProvider.problems(request, "veo-3.1") == [
        "negative_prompt not offered by fal veo-3.1 with reference_images (reference-to-video)",
        "seed not offered by fal veo-3.1 with reference_images (reference-to-video)",
    ]
    host = Host({})
    with pytest.raises(RequestError, match="seed not offered"):
        run(provider(httpx.MockTransport(host)), request)
    with pytest.raises(RequestError, match="reference_images not offered by fal veo-3.1-fast"):
        run(
            provider(httpx.MockTransport(host), model="veo-3.1-fast"),
            VideoRequest(prompt="x", reference_images=[A]),
        )
    assert host.seen == []


def test_missing_key_is_one_error_naming_the_variables(monkeypatch) -> None:
    for name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    host = Host({})
    prov = FalProvider({}, transport=httpx.MockTransport(host))
    with pytest.raises(MissingKeyError) as info:
        prov.check_ready()
    assert str(info.value) == (
        "No fal.ai API key: set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET) or pass --api-key"
    )
    with pytest.raises(MissingKeyError):
        run(prov)
    assert host.seen == []
    monkeypatch.setenv("FAL_KEY_ID", "id1")
    monkeypatch.setenv("FAL_KEY_SECRET", "s3cret")
    assert key_from_env() == "id1:s3cret"
    monkeypatch.setenv("FAL_KEY", "whole")
    assert key_from_env() == "whole"


def test_the_base_url_settings(monkeypatch) -> None:
    for name in ("FAL_BASE_URL", "FAL_QUEUE_RUN_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_base_url(None) == "https://queue.fal.run"
    monkeypatch.setenv("FAL_QUEUE_RUN_HOST", "127.0.0.1:8443")  # fal-client's variable
    assert resolve_base_url(None) == "https://127.0.0.1:8443"
    monkeypatch.setenv("FAL_BASE_URL", "http://127.0.0.1:8765/")
    assert resolve_base_url(None) == "http://127.0.0.1:8765"
    assert resolve_base_url("https://example.com") == "https://example.com"


def test_seed_and_the_prompt_fal_used(mp4) -> None:
    host = scripted(mp4, result=[result(seed=99, prompt="a red fox in snow, rewritten")])
    got = run(provider(httpx.MockTransport(host), auto_fix=True))
    assert got.seed == 99 and got.metadata["seed_source"] == "host"
    assert got.metadata["prompt_used"] == "a red fox in snow, rewritten"
    same = scripted(mp4, result=[result(prompt=FOX.prompt)])
    assert "prompt_used" not in run(provider(httpx.MockTransport(same))).metadata


def test_prices_come_from_the_capability_rows() -> None:
    assert FalProvider.models == ("veo-3.1", "veo-3.1-fast")
    assert FalProvider.price(FOX, "veo-3.1") == 0.8
    assert FalProvider.price(FOX.model_copy(update={"generate_audio": True}), "veo-3.1") == 1.6
    assert FalProvider.price(FOX, "veo-3.1-fast") == 0.4
    for row in FAL.values():
        assert row.price_source.startswith("https://fal.ai/models/fal-ai/veo3.1")
        assert set(row.usd_per_second) == {"audio", "no_audio", "4k_audio", "4k_no_audio"}


def test_timings_use_fals_inference_time(mp4) -> None:
    host = scripted(mp4, status=[status("IN_QUEUE"), status("IN_PROGRESS"), status()])
    got = run(provider(httpx.MockTransport(host)))
    assert got.timings.generating == 61.5
    assert got.metadata["reads"] == 4  # three status reads and the result


def test_fals_options_are_logged_and_auto_fix_is_a_seed_caveat() -> None:
    off, on = FalConfig(), FalConfig(auto_fix=True, safety_tolerance="2")
    assert FalProvider.output_params(off) == {
        "fal.auto_fix": False,
        "fal.safety_tolerance": "default",
    }
    assert FalProvider.output_params(on) == {"fal.auto_fix": True, "fal.safety_tolerance": "2"}
    assert FalProvider.seed_holds(off) is None
    assert "auto_fix on" in (FalProvider.seed_holds(on) or "")


def test_4k_is_sent_as_such_and_priced_at_fals_4k_rate(mp4) -> None:
    request = VideoRequest(prompt="a fox", resolution="4k", duration=8, generate_audio=True)
    host = scripted(mp4)
    run(provider(httpx.MockTransport(host)), request)
    [body] = host.bodies()
    assert (body["resolution"], body["duration"]) == ("4k", "8s")
    assert FalProvider.price(request, "veo-3.1") == 4.8  # 8 s x $0.60
    silent = request.model_copy(update={"generate_audio": False})
    assert FalProvider.price(silent, "veo-3.1") == 3.2  # 8 s x $0.40
    assert FalProvider.price(silent, "veo-3.1-fast") == 2.4  # 8 s x $0.30
