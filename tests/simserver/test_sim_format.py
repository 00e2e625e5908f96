"""The simulator's MP4s are shaped like real Veo 3.1 output, for every size and duration.

H.264 High, yuv420p, 24/1 fps, exactly 24 x duration frames at Veo's geometry, one keyframe;
AAC-LC 48 kHz stereo of the same duration (or no audio stream at all); moov after mdat.
Clips are rendered once per session (``sim_cache``) and shared by the tests below.
"""

from __future__ import annotations

import asyncio
import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from veolab.providers import get_provider, verify_mp4
from veolab.providers.sim import SimProvider
from veolab.providers.sim.engine import SimDefects, render_mp4
from veolab.providers.sim.provider import simulate
from veolab.request import SEED_MAX, VideoRequest


def render(cache: dict, seed: int = 1, **fields: Any) -> bytes:
    fields.setdefault("prompt", "a red fox running through snow")
    fields.setdefault("resolution", "720p")
    fields.setdefault("duration", 4)
    req = VideoRequest.build(seed=seed, **fields)
    key = ("format", req.request_hash())
    if key not in cache:
        cache[key] = render_mp4(req, seed, SimDefects())
    return cache[key]


def top_level_boxes(data: bytes) -> list[str]:
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        pos += size
    return boxes


def probe(data: bytes) -> dict[str, Any]:
    """The facts ffprobe would report, from PyAV."""
    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        facts: dict[str, Any] = {
            "codec": v.codec_context.name,
            "profile": v.codec_context.profile,
            "pix_fmt": v.codec_context.pix_fmt,
            "size": (v.codec_context.width, v.codec_context.height),
            "fps": v.average_rate,
            "video_seconds": float(v.duration * v.time_base),
            "audio": None,
        }
        if c.streams.audio:
            a = c.streams.audio[0]
            facts["audio"] = {
                "codec": a.codec_context.name,
                "profile": a.codec_context.profile,
                "rate": a.codec_context.sample_rate,
                "channels": a.codec_context.channels,
                "seconds": float(a.duration * a.time_base),
            }
        packets = [p for p in c.demux(v) if p.size]
    facts["frames"] = len(packets)
    facts["keyframes"] = sum(p.is_keyframe for p in packets)
    return facts


COMBOS = [
    # resolution, aspect, duration, audio, size
    ("720p", "16:9", 4, True, (1280, 720)),
    ("720p", "16:9", 6, False, (1280, 720)),
    ("720p", "16:9", 8, True, (1280, 720)),
    ("720p", "9:16", 4, False, (720, 1280)),
    ("720p", "9:16", 6, True, (720, 1280)),
    ("720p", "9:16", 8, False, (720, 1280)),
    ("1080p", "16:9", 8, True, (1920, 1080)),
    ("1080p", "9:16", 8, False, (1080, 1920)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("resolution", "aspect", "duration", "audio", "size"), COMBOS)
def test_shape_matches_veo(
    sim_cache: dict,
    resolution: str,
    aspect: str,
    duration: int,
    audio: bool,
    size: tuple[int, int],
) -> None:
    data = render(
        sim_cache,
        resolution=resolution,
        aspect_ratio=aspect,
        duration=duration,
        generate_audio=audio,
    )
    verify_mp4(data)
    facts = probe(data)
    assert facts["codec"] == "h264"
    assert facts["profile"] == "High"
    assert facts["pix_fmt"] == "yuv420p"
    assert facts["size"] == size
    assert facts["fps"] == Fraction(24, 1)
    assert facts["frames"] == 24 * duration
    assert facts["keyframes"] == 1
    assert facts["video_seconds"] == duration
    if audio:
        assert facts["audio"] == {
            "codec": "aac",
            "profile": "LC",
            "rate": 48_000,
            "channels": 2,
            "seconds": float(duration),
        }
    else:
        assert facts["audio"] is None
    assert top_level_boxes(data)[0] == "ftyp"
    assert top_level_boxes(data)[-2:] == ["mdat", "moov"]  # moov at the end, as Veo writes it


NEW_SHAPES = [
    # resolution, aspect, duration, fps, size: veo-3's ratios and 30 fps, 4k (issue 14)
    ("720p", "4:3", 4, 30, (960, 720)),
    ("720p", "1:1", 4, None, (720, 720)),
    ("720p", "3:4", 6, 24, (720, 960)),
    ("1080p", "1:1", 8, 30, (1080, 1080)),
    ("4k", "16:9", 8, None, (3840, 2160)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("resolution", "aspect", "duration", "fps", "size"), NEW_SHAPES)
def test_more_shapes_and_30_fps(
    sim_cache: dict,
    resolution: str,
    aspect: str,
    duration: int,
    fps: int | None,
    size: tuple[int, int],
) -> None:
    data = render(sim_cache, resolution=resolution, aspect_ratio=aspect, duration=duration, fps=fps)
    verify_mp4(data)
    facts = probe(data)
    rate = fps or 24
    assert (facts["size"], facts["fps"], facts["frames"]) == (
        size,
        Fraction(rate, 1),
        rate * duration,
    )
    assert facts["video_seconds"] == duration
    assert facts["audio"]["seconds"] == float(duration)


def test_decoded_frame_count_and_audio_samples(sim_cache: dict) -> None:
    data = render(sim_cache)  # 720p 16:9 4 s with audio
    with av.open(io.BytesIO(data)) as c:
        n = sum(1 for _ in c.decode(video=0))
    with av.open(io.BytesIO(data)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert n == 96
    # AAC codes whole 1024-sample frames: 192000 samples round up to 188 frames
    assert samples == 188 * 1024


@pytest.mark.slow
def test_same_request_same_bytes(sim_cache: dict) -> None:
    first = render(sim_cache, seed=5)
    req = VideoRequest.build(
        prompt="a red fox running through snow", resolution="720p", duration=4, seed=5
    )
    again, seed = simulate(req)
    assert seed == 5
    assert again == first


@pytest.mark.slow
def test_a_different_seed_looks_different(sim_cache: dict) -> None:
    def first_frames(data: bytes) -> np.ndarray:
        with av.open(io.BytesIO(data)) as c:
            out = []
            for i, frame in enumerate(c.decode(video=0)):
                if i % 24 == 0:
                    out.append(frame.to_ndarray(format="rgb24", width=320, height=180))
        return np.stack(out).astype(np.float32)

    for prompt in ("a red fox running through snow", "a quiet street"):
        a = first_frames(render(sim_cache, seed=1, prompt=prompt))
        b = first_frames(render(sim_cache, seed=2, prompt=prompt))
        # a seed changes the layout (bands, discs, texture); the same seed over time changes less
        assert np.abs(a - b).mean() > 8.0
        assert np.abs(a - b).mean() > 2 * np.abs(a[0] - a[1]).mean()


def test_no_seed_picks_one_and_reports_it() -> None:
    req = VideoRequest.build(prompt="a calm sea", resolution="720p", duration=4)
    result = asyncio.run(SimProvider().generate(req))
    assert isinstance(result.seed, int)
    assert 0 <= result.seed <= SEED_MAX
    assert result.metadata["seed"] == result.seed
    # the reported seed reproduces the clip exactly
    assert simulate(req.with_seed(result.seed))[0] == result.video
    other = asyncio.run(SimProvider().generate(req))
    assert other.seed != result.seed  # 1 in 2**32 to fail by chance


def test_provider_result(sim_cache: dict) -> None:
    prov = get_provider("sim")
    assert isinstance(prov, SimProvider)
    assert (prov.needs_key, prov.paid, prov.key_env_var) == (False, False, None)
    req = VideoRequest.build(
        prompt="a red fox running through snow", resolution="720p", duration=4, seed=1
    )
    assert prov.estimate_cost(req) == 0.0
    result = asyncio.run(prov.generate(req))
    assert result.video == render(sim_cache, seed=1)
    assert result.seed == 1
    assert result.cost == 0.0
    assert result.request_id is not None and result.request_id.startswith("sim-")
    assert len(result.request_id) == 20
    assert result.metadata == {
        "provider": "sim",
        "model": "veo-3.1",
        "seed": 1,
        "bytes": len(result.video or b""),
    }
    assert result.timings.total >= result.timings.generating > 0
    assert result.timings.downloading == 0.0


def test_same_container_facts_as_a_real_veo_clip(sim_cache: dict, veo_fixture: Path) -> None:
    """The real Veo 3.1 720p 8 s clip and the simulator's agree on every stream fact."""
    real = probe(veo_fixture.read_bytes())
    sim = probe(render(sim_cache, duration=8))
    assert real == sim
    assert top_level_boxes(veo_fixture.read_bytes())[-1] == "moov"


# -- verify_mp4: the structural check every provider's output passes through ----------------


def test_verify_mp4_accepts_the_simulators_clip(sim_cache: dict) -> None:
    verify_mp4(render(sim_cache))  # no exception, and:
    assert top_level_boxes(render(sim_cache)) == ["ftyp", "free", "mdat", "moov"]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (
            lambda d: b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>" + d,
            "the output is an HTML page, not a video: the host returned an error",
        ),
        (lambda d: d[:100], "the output is 100 bytes: too small to be a video"),
        (
            lambda d: b"\0" * 4 + b"junk" + d[8:],
            "the output is not an MP4 (no ftyp box at the start)",
        ),
        (lambda d: d[:-100], "the output is truncated: box 'moov' runs past the end"),
        (
            lambda d: d[: d.rindex(b"moov") - 4],
            "the output is an incomplete MP4 (missing moov or mdat)",
        ),
    ],
)
def test_verify_mp4_rejects(sim_cache: dict, mangle: Any, message: str) -> None:
    from veolab.errors import InvalidOutputError

    with pytest.raises(InvalidOutputError) as info:
        verify_mp4(mangle(render(sim_cache)))
    assert str(info.value) == message
    assert info.value.exit_code == 3


def test_verify_mp4_size_cap_and_name(sim_cache: dict) -> None:
    from veolab.errors import InvalidOutputError

    data = render(sim_cache)
    with pytest.raises(InvalidOutputError) as info:
        verify_mp4(data, max_bytes=len(data) - 1, what="job 42")
    assert str(info.value) == f"job 42 is larger than the {len(data) - 1} byte cap"
    verify_mp4(data, max_bytes=len(data))
