"""Google's own client, google-genai in Vertex mode, against the simulator's Vertex routes:
unchanged but for the base URL and static credentials (nothing reaches Google)."""

from __future__ import annotations

import time

import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from veolab.analysis import analyze_video
from veolab.providers import verify_mp4

TOKEN = "sdk-token-0123456789"


def client(url: str, token: str = TOKEN) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="sdk-project",
        location="us-central1",
        credentials=Credentials(token=token),
        http_options=types.HttpOptions(base_url=url),
    )


def wait(c: genai.Client, op: types.GenerateVideosOperation) -> types.GenerateVideosOperation:
    deadline = time.time() + 60
    while not op.done and time.time() < deadline:
        time.sleep(0.05)
        op = c.operations.get(op)
    assert op.done, "the operation never finished"
    return op


def test_generate_videos_and_operations_get_return_the_video(sim_server, make_png) -> None:
    srv = sim_server(api_key=TOKEN, latency=0.3, credits=10.0)
    c = client(srv.base_url)
    first = types.Image.from_file(location=str(make_png("first.png", (200, 30, 30), (128, 72))))
    op = c.models.generate_videos(
        model="veo-3.1-generate-001",
        source=types.GenerateVideosSource(prompt="a red fox running at night", image=first),
        config=types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=4,
            aspect_ratio="16:9",
            resolution="720p",
            seed=1234,
            generate_audio=False,
            negative_prompt="blur",
            enhance_prompt=False,
            person_generation="allow_adult",
        ),
    )
    assert op.name.startswith(
        "projects/sdk-project/locations/us-central1/publishers/google/models/"
        "veo-3.1-generate-001/operations/"
    )
    assert not op.done
    op = wait(c, op)
    assert op.error is None
    videos = op.response.generated_videos
    assert len(videos) == 1 and videos[0].video.mime_type == "video/mp4"
    data = videos[0].video.video_bytes
    verify_mp4(data)
    analysis = analyze_video(data)
    assert (analysis.metrics.width, analysis.metrics.height) == (1280, 720)
    assert analysis.metrics.frame_count == 96  # 4 s at 24 fps
    assert analysis.probe.audio is None  # generate_audio False reached the host
    assert op.response.rai_media_filtered_count == 0
    # billed once, at Vertex's price: 4 s without audio at $0.20
    jobs = srv.ledger()["jobs"]
    assert [(j["seed"], j["cost"], j["duration"], j["generate_audio"]) for j in jobs] == [
        (1234, 0.8, 4, False)
    ]
    assert op.name.endswith(jobs[0]["request_id"])
    calls = {a["route"] for a in srv.ledger()["attempts"]}
    assert calls == {"submit", "status"}


def test_storage_uri_answers_a_gcs_uri_the_storage_route_serves(sim_server) -> None:
    srv = sim_server(api_key=TOKEN)
    c = client(srv.base_url)
    op = c.models.generate_videos(
        model="veo-3.1-fast-generate-001",
        prompt="calm blue sea",
        config=types.GenerateVideosConfig(
            duration_seconds=4, resolution="720p", output_gcs_uri="gs://my-bucket/runs/"
        ),
    )
    op = wait(c, op)
    video = op.response.generated_videos[0].video
    assert video.uri.startswith("gs://my-bucket/runs/") and video.uri.endswith("/sample_0.mp4")
    assert video.video_bytes is None
    import httpx

    bucket, _, name = video.uri.removeprefix("gs://").partition("/")
    url = f"{srv.base_url}/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}?alt=media"
    got = httpx.get(url, headers={"authorization": f"Bearer {TOKEN}"})
    assert got.status_code == 200
    verify_mp4(got.content)
    assert httpx.get(url).status_code == 401  # the object needs the token too


def test_filtered_output_reaches_the_sdk_as_rai_fields(sim_server) -> None:
    srv = sim_server(api_key=TOKEN)
    c = client(srv.base_url)
    op = wait(
        c,
        c.models.generate_videos(
            model="veo-3.1-generate-001",
            prompt="[sim:filter] a scene",
            config=types.GenerateVideosConfig(duration_seconds=4, resolution="720p"),
        ),
    )
    assert op.response.generated_videos is None
    assert op.response.rai_media_filtered_count == 1
    assert "usage guidelines" in op.response.rai_media_filtered_reasons[0]
    assert srv.ledger()["jobs"] == []  # filtered: not billed


def test_a_wrong_token_is_the_sdks_client_error_401(sim_server) -> None:
    from google.genai import errors

    srv = sim_server(api_key=TOKEN)
    c = client(srv.base_url, token="wrong-token")
    with pytest.raises(errors.ClientError) as caught:
        c.models.generate_videos(model="veo-3.1-generate-001", prompt="a fox")
    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"


def test_reference_images_arrive_as_assets(sim_server, make_png) -> None:
    srv = sim_server(api_key=TOKEN)
    c = client(srv.base_url)
    png = make_png("ref.png", (20, 200, 40), (64, 64)).read_bytes()
    ref = types.VideoGenerationReferenceImage(
        image=types.Image(image_bytes=png, mime_type="image/png"), reference_type="asset"
    )
    op = wait(
        c,
        c.models.generate_videos(
            model="veo-3.1-generate-001",
            prompt="a green kite",
            config=types.GenerateVideosConfig(
                duration_seconds=8, resolution="720p", reference_images=[ref]
            ),
        ),
    )
    verify_mp4(op.response.generated_videos[0].video.video_bytes)
    assert len(srv.ledger()["jobs"]) == 1
    # the simulator refuses what Vertex refuses: reference images on the fast tier
    from google.genai import errors

    with pytest.raises(errors.ClientError) as caught:
        c.models.generate_videos(
            model="veo-3.1-fast-generate-001",
            prompt="a green kite",
            config=types.GenerateVideosConfig(duration_seconds=8, reference_images=[ref]),
        )
    assert caught.value.code == 400
    assert "reference_images not offered by vertex veo-3.1-fast" in caught.value.message
