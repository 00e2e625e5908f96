"""The Veo family on Segmind (issue 14): each model's path, body and price, against ``veolab sim
serve`` over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from veolab.providers import get_provider
from veolab.providers.capabilities import SEGMIND, price
from veolab.providers.segmind.body import BODY_NAMES, request_body
from veolab.request import VideoRequest

KEY = "SG_0123456789abcdef"
FOX = {"prompt": "a red fox running through snow", "resolution": "720p", "duration": 4}


def generate(url: str, model: str, request: VideoRequest):
    prov = get_provider("segmind", {"model": model, "base_url": url, "poll_interval": 0.05})

    async def go():
        try:
            return await prov.generate(request)
        finally:
            await prov.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("model", list(SEGMIND))
def test_each_model_of_the_family_on_its_own_path_and_price(
    model: str, sim_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    srv = sim_server(api_key=KEY, credits=10.0)
    request = VideoRequest(**FOX, generate_audio=False, seed=3)
    result = generate(srv.base_url, model, request)
    (job,) = srv.ledger()["jobs"]
    assert (job["model"], job["request_hash"]) == (model, request.request_hash())
    assert result.cost == job["cost"] == price(SEGMIND[model], request)


def test_veo_3_takes_its_first_frame_as_image_url(
    sim_server, monkeypatch: pytest.MonkeyPatch, make_png
) -> None:
    png = make_png("first.png", (200, 60, 30))
    request = VideoRequest(**FOX, aspect_ratio="4:3", fps=30, image=str(png), seed=5)

    async def upload(urls: list[str]) -> list[str]:
        raise AssertionError("inline")

    body = asyncio.run(
        request_body(request, inline_images=True, upload=upload, names=BODY_NAMES["veo-3"])
    )
    assert "image" not in body and body["image_url"].startswith("data:image/png;base64,")
    assert (body["fps"], body["aspect_ratio"]) == (30, "4:3")
    plain = asyncio.run(request_body(request, inline_images=True, upload=upload))
    assert "image" in plain and "image_url" not in plain

    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    srv = sim_server(api_key=KEY, credits=10.0)
    result = generate(srv.base_url, "veo-3", request)
    (job,) = srv.ledger()["jobs"]
    # the simulator got the same request, first frame included (its hash holds the image's)
    assert job["request_hash"] == request.request_hash()
    assert (job["aspect_ratio"], result.cost) == ("4:3", 1.6)
    # a first frame under VideoRequest's name is not one veo-3's page lists: refused, unbilled
    answer = httpx.post(
        f"{srv.base_url}/v1/veo-3",
        json={**FOX, "image": "https://example.com/a.png"},
        headers={"x-api-key": KEY},
    )
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "Unknown parameter(s): image (veo-3 takes image_url)"},
    )
    assert len(srv.ledger()["jobs"]) == 1
