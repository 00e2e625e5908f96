"""The analysis measures what the offline simulator made: its prompt cues and seeded defects.

Default simulator clips pass every check for their request; each seeded defect fails exactly
the check it is meant to trip. The real Veo 3.1 clip passes every check for its request.
"""

from __future__ import annotations

import dataclasses

import pytest

from veolab.analysis import AnalysisResult, CheckThresholds, Expectations, analyze_video
from veolab.analysis.checks import run_checks
from veolab.providers.sim.engine import SimDefects, render_mp4
from veolab.request import VideoRequest

_CACHE: dict[tuple, tuple[VideoRequest, AnalysisResult]] = {}


def sim(prompt: str, seed: int = 3, defects: dict | None = None, **fields):
    """Render (once per session) and analyse a sim clip at 720p, 4 s unless told otherwise."""
    fields = {"resolution": "720p", "duration": 4, **fields}
    key = (prompt, seed, tuple(sorted((defects or {}).items())), tuple(sorted(fields.items())))
    if key not in _CACHE:
        req = VideoRequest(prompt=prompt, **fields)
        data = render_mp4(req, seed, SimDefects(**(defects or {})))
        _CACHE[key] = (req, analyze_video(data, Expectations.from_request(req)))
    return _CACHE[key]


def failing(res: AnalysisResult) -> dict:
    return {c.name: c.value for c in res.checks if not c.passed}


@pytest.mark.parametrize(
    ("prompt", "fields"),
    [
        ("a lighthouse on a cliff at sunset", {}),
        ("a calm still lake, static locked-off tripod shot", {}),
        (
            "a motionless statue, serene and still",
            {"aspect_ratio": "9:16", "duration": 6, "generate_audio": False},
        ),
        ("a red fox running through snow, cut to a hawk", {"negative_prompt": "black and white"}),
    ],
)
def test_default_sim_clips_pass_every_check(prompt, fields):
    req, res = sim(prompt, **fields)
    assert failing(res) == {}
    names = {c.name for c in res.checks}
    assert {
        "duration",
        "resolution",
        "aspect_ratio",
        "fps",
        "frame_count",
        "audio_present",
        "black_segments",
        "frozen_segments",
    } <= names


def test_still_prompts_move_enough_not_to_read_as_frozen():
    _, res = sim("a calm still lake, static locked-off tripod shot")
    # the simulator's "still" scenes move by under a pixel a frame; the longest run of frames
    # within freezedetect's -60 dB noise is a few frames, far below the 1 s limit
    assert 0 < res.metrics.longest_frozen_s < 0.5
    assert res.metrics.frozen_segments == []


def test_black_defect_fails_the_black_check():
    _, res = sim("a lighthouse on a cliff at sunset", defects={"black_seconds": 1.0})
    assert list(failing(res)) == ["black_segments"]
    assert failing(res)["black_segments"] == pytest.approx(1.0, abs=1 / 24)
    assert res.metrics.n_black_segments == 1


def test_frozen_defect_fails_the_frozen_check():
    _, res = sim("a lighthouse on a cliff at sunset", defects={"frozen_seconds": 1.5})
    # 36 repeated frames plus the frame they repeat
    assert failing(res) == {"frozen_segments": round(37 / 24, 4)}


def test_short_defect_fails_duration_and_frame_count():
    _, res = sim("a lighthouse on a cliff at sunset", defects={"short_seconds": 1.0})
    assert failing(res) == {"duration": 3.0, "frame_count": 72}


def test_dropped_audio_fails_audio_present():
    _, res = sim("a lighthouse on a cliff at sunset", defects={"drop_audio": True})
    assert failing(res) == {"audio_present": False}


def test_quiet_prompt_makes_near_silent_audio_that_fails_audio_not_silent():
    _, res = sim("a quiet library")
    assert failing(res) == {"audio_not_silent": 1.0}
    assert res.metrics.audio_peak_dbfs < -60


def test_night_is_darker_than_bright_sunny():
    _, night = sim("a city street at night")
    _, sunny = sim("a bright sunny beach")
    assert night.metrics.brightness_mean < 0.7 * sunny.metrics.brightness_mean
    assert night.passed and sunny.passed


def test_fast_moves_more_than_calm():
    _, fast = sim("fast racing cars, explosive action")
    _, calm = sim("a calm still lake, static locked-off tripod shot")
    assert fast.metrics.motion > 3 * calm.metrics.motion


def test_black_and_white_prompt_is_grey_and_fails_colour_when_excluded():
    req, res = sim("an old man reading, black and white film")
    assert res.metrics.colorfulness < 1.0
    exp = dataclasses.replace(Expectations.from_request(req), negative_prompt="monochrome")
    verdict = {c.name: c.passed for c in run_checks(res.probe, res.metrics, exp, CheckThresholds())}
    assert verdict["colour"] is False
    _, coloured = sim(
        "a red fox running through snow, cut to a hawk", negative_prompt="black and white"
    )
    assert coloured.metrics.colorfulness > 20


@pytest.mark.parametrize("n", [0, 2])
def test_each_cut_to_is_one_hard_cut(n):
    prompt = "a dog in a park" + ", cut to a cat" * n
    _, res = sim(prompt)
    assert res.metrics.n_cuts == n
    # the simulator splits the clip into equal segments
    assert res.metrics.cuts == pytest.approx([k * 4 / (n + 1) for k in range(1, n + 1)], abs=1 / 24)


def test_real_veo_clip_passes_every_check(veo_fixture):
    exp = Expectations(
        duration=8,
        width=1280,
        height=720,
        aspect_ratio="16:9",
        fps=24,
        frames=192,
        audio=True,
        negative_prompt="black and white",
    )
    res = analyze_video(veo_fixture, exp)
    assert failing(res) == {}
    assert [c.name for c in res.checks] == [
        "duration",
        "resolution",
        "aspect_ratio",
        "fps",
        "frame_count",
        "audio_present",
        "audio_not_silent",
        "black_segments",
        "frozen_segments",
        "colour",
    ]
    p = res.probe
    assert (p.encoder, p.video.codec, p.video.profile, p.video.pix_fmt) == (
        "Google",
        "h264",
        "High",
        "yuv420p",
    )
    assert (p.video.fps_fraction, p.video.frame_count, p.video.duration_s) == ("24/1", 192, 8.0)
    assert (p.audio.codec, p.audio.sample_rate, p.audio.channels) == ("aac", 48000, 2)
    # the edit list trims AAC priming: decoded audio is exactly the 8.000 s the header states
    assert res.metrics.audio_duration_s == p.audio.duration_s == 8.0
    assert res.metrics.duration_s == 8.0 and res.metrics.frame_count == 192
