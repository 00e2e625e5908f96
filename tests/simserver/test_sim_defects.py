"""Seeded defects (black, frozen, short, no audio), simulated latency and the sim's options."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import av
import numpy as np
import pytest

from veolab.errors import ConfigError
from veolab.providers import ProviderConfig
from veolab.providers.sim import SimConfig, SimProvider
from veolab.providers.sim.engine import SimDefects
from veolab.providers.sim.provider import simulate
from veolab.request import VideoRequest

PROMPT = "a fast car chase"


def request(seed: int = 1, **fields: Any) -> VideoRequest:
    fields.setdefault("prompt", PROMPT)
    return VideoRequest.build(resolution="720p", duration=4, seed=seed, **fields)


def decoded(cache: dict, defects: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    key = ("defects", seed, tuple(sorted(defects.items())))
    if key not in cache:
        data, used = simulate(request(seed), SimConfig(defects=defects))
        assert used == seed
        with av.open(io.BytesIO(data)) as c:
            frames = np.stack(
                [f.to_ndarray(format="rgb24", width=320, height=180) for f in c.decode(video=0)]
            ).astype(np.float32)
        with av.open(io.BytesIO(data)) as c:
            samples = sum(f.samples for f in c.decode(audio=0)) if c.streams.audio else None
        cache[key] = {"frames": frames, "samples": samples, "bytes": data}
    return cache[key]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, length), ...] of the True runs in a boolean array."""
    out, start = [], None
    for i, v in enumerate([*mask.tolist(), False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - start))
            start = None
    return out


def black_runs(clip: dict[str, Any]) -> list[tuple[int, int]]:
    return runs(clip["frames"].mean(axis=(1, 2, 3)) < 3)


def still_runs(clip: dict[str, Any]) -> list[tuple[int, int]]:
    diffs = np.abs(np.diff(clip["frames"], axis=0)).mean(axis=(1, 2, 3))
    return runs(diffs < 0.25)


def test_off_by_default(sim_cache: dict) -> None:
    assert SimDefects().any() is False
    assert SimConfig().defects == {}
    clean = decoded(sim_cache, {})
    assert len(clean["frames"]) == 96
    assert black_runs(clean) == []
    assert still_runs(clean) == []
    assert clean["samples"] == 188 * 1024  # 4 s of 48 kHz audio in whole AAC frames


@pytest.mark.slow
def test_black_segment(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"black_seconds": 1.0})
    assert len(clip["frames"]) == 96
    [(start, length)] = black_runs(clip)
    assert length == 24
    assert 1 <= start <= 96 - 24
    # seeded: same seed, same place; another seed, another place
    assert black_runs(decoded(sim_cache, {"black_seconds": 1.0})) == [(start, 24)]
    assert black_runs(decoded(sim_cache, {"black_seconds": 1.0}, seed=2))[0][0] != start


def test_frozen_segment(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"frozen_seconds": 1.5})
    assert len(clip["frames"]) == 96
    assert black_runs(clip) == []
    [(start, length)] = still_runs(clip)
    assert length == 36  # the picture stands still for 36 frame intervals: 1.5 s
    diffs = np.abs(np.diff(clip["frames"], axis=0)).mean(axis=(1, 2, 3))
    moving = np.delete(diffs, range(start, start + length))
    assert moving.min() > 1.0  # the rest of a fast clip moves


def test_short_clip(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"short_seconds": 1.0})
    assert len(clip["frames"]) == 72
    assert clip["samples"] == 141 * 1024  # 3 s of audio: 144000 samples in whole AAC frames
    with av.open(io.BytesIO(clip["bytes"])) as c:
        assert float(c.streams.video[0].duration * c.streams.video[0].time_base) == 3.0


def test_short_clip_never_vanishes(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"short_seconds": 30.0})
    assert len(clip["frames"]) == 12  # half a second at least


def test_missing_audio(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"drop_audio": True})
    assert request().generate_audio is True
    assert clip["samples"] is None
    assert len(clip["frames"]) == 96


def test_defects_combine(sim_cache: dict) -> None:
    clip = decoded(sim_cache, {"black_seconds": 0.5, "short_seconds": 2.0, "drop_audio": True})
    assert len(clip["frames"]) == 48
    assert [length for _, length in black_runs(clip)] == [12]
    assert clip["samples"] is None


def test_defects_through_the_provider_options() -> None:
    prov = SimProvider(ProviderConfig(options={"defects": {"short_seconds": 2}}))
    result = asyncio.run(prov.generate(request()))
    with av.open(io.BytesIO(result.video or b"")) as c:
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 48


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"defects": {"blak_seconds": 1}},
            "provider sim: defects.blak_seconds: unknown field",
        ),
        (
            {"defects": {"black_seconds": -1}},
            "provider sim: defects.black_seconds: Input should be greater than or equal to 0",
        ),
        (
            {"latency": -1},
            "provider sim: latency: Input should be greater than or equal to 0",
        ),
        ({"jitter": 2}, "provider sim: jitter: Input should be less than or equal to 1"),
        (
            {"lag": 1},
            "provider sim: lag: unknown field (sim takes: model, base_url, connect_timeout, "
            "read_timeout, job_timeout, max_in_flight, latency, jitter, defects)",
        ),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SimProvider(ProviderConfig(options=options))
    assert str(info.value) == message
    assert info.value.exit_code == 2


# -- latency -------------------------------------------------------------------------------


def test_no_latency_by_default() -> None:
    assert SimConfig().delay_for(request().request_hash()) == 0.0


def test_latency_jitter_is_seeded_per_request() -> None:
    cfg = SimConfig(latency=2.0, jitter=0.5)
    delays = [cfg.delay_for(request(seed=s).request_hash()) for s in range(40)]
    assert all(1.0 <= d <= 3.0 for d in delays)
    assert len(set(delays)) == 40  # a different request, a different delay
    assert max(delays) - min(delays) > 1.0  # spread over the jitter range
    assert delays == [cfg.delay_for(request(seed=s).request_hash()) for s in range(40)]
    assert SimConfig(latency=2.0).delay_for(request().request_hash()) == 2.0


def test_latency_is_spent_in_the_queue_phase() -> None:
    cfg = SimConfig(latency=0.3, jitter=0.2)
    req = request(prompt="a lake", generate_audio=False)
    expected = cfg.delay_for(req.request_hash())
    prov = SimProvider(ProviderConfig(options={"latency": 0.3, "jitter": 0.2}))
    result = asyncio.run(prov.generate(req))
    assert result.timings.queued == pytest.approx(expected, abs=0.1)
    assert result.timings.queued >= expected
    assert result.timings.total >= result.timings.queued + result.timings.generating - 1e-6
