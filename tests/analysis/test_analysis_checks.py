"""Expectations, thresholds and the check logic, on hand-made measurements (no decoding)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from veolab.analysis import CheckThresholds, Expectations
from veolab.analysis.checks import aspect_label, run_checks
from veolab.analysis.result import AudioProbe, Metrics, Probe, VideoProbe
from veolab.analysis.segments import RunTracker, Segment
from veolab.request import VideoRequest


def _probe(audio: bool = True) -> Probe:
    video = VideoProbe(
        codec="h264",
        profile="High",
        width=1280,
        height=720,
        pix_fmt="yuv420p",
        fps=24.0,
        fps_fraction="24/1",
        frame_count=192,
        duration_s=8.0,
        start_s=0.0,
        time_base="1/12288",
        bit_rate=None,
    )
    a = (
        AudioProbe(
            codec="aac",
            profile="LC",
            sample_rate=48000,
            channels=2,
            layout="stereo",
            duration_s=8.0,
            start_s=0.0,
            bit_rate=None,
        )
        if audio
        else None
    )
    return Probe(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        brand="isom",
        encoder=None,
        size_bytes=1,
        duration_s=8.0,
        bit_rate=None,
        video=video,
        audio=a,
    )


def _metrics(**over) -> Metrics:
    base = dict(
        width=1280,
        height=720,
        frame_count=192,
        duration_s=8.0,
        fps=24.0,
        brightness_mean=90.0,
        black_fraction=0.0,
        black_segments=[],
        n_black_segments=0,
        longest_black_s=0.0,
        frozen_segments=[],
        n_frozen_segments=0,
        longest_frozen_s=0.0,
        cuts=[],
        n_cuts=0,
        sharpness=10.0,
        colorfulness=20.0,
        motion=1.0,
        flicker=0.1,
        audio_duration_s=8.0,
        loudness_lufs=-20.0,
        audio_peak_dbfs=-3.0,
        silent_segments=[],
        n_silent_segments=0,
        silent_fraction=0.0,
    )
    base.update(over)
    return Metrics(**base)


FULL = Expectations(
    duration=8,
    width=1280,
    height=720,
    aspect_ratio="16:9",
    fps=24,
    frames=192,
    audio=True,
    negative_prompt="black and white, blurry",
)


def _verdicts(
    metrics: Metrics,
    exp: Expectations = FULL,
    probe: Probe | None = None,
    thr: CheckThresholds | None = None,
) -> dict[str, bool]:
    checks = run_checks(probe or _probe(), metrics, exp, thr or CheckThresholds())
    return {c.name: c.passed for c in checks}


def test_all_checks_pass_for_a_clip_that_matches():
    assert _verdicts(_metrics()) == {
        "duration": True,
        "resolution": True,
        "aspect_ratio": True,
        "fps": True,
        "frame_count": True,
        "audio_present": True,
        "audio_not_silent": True,
        "black_segments": True,
        "frozen_segments": True,
        "colour": True,
    }


@pytest.mark.parametrize(
    ("over", "failing"),
    [
        ({"duration_s": 8.1}, set()),  # on the tolerance: passes
        ({"duration_s": 8.15}, {"duration"}),
        ({"duration_s": 7.5, "frame_count": 180}, {"duration", "frame_count"}),
        ({"width": 1920, "height": 1080}, {"resolution"}),
        ({"width": 720, "height": 1280}, {"resolution", "aspect_ratio"}),
        ({"fps": 25.0}, {"fps"}),
        ({"fps": 23.976}, {"fps"}),
        ({"frame_count": 191}, {"frame_count"}),
        ({"silent_fraction": 0.95}, {"audio_not_silent"}),
        ({"silent_fraction": 0.9}, set()),
        ({"longest_black_s": 0.5}, set()),
        ({"longest_black_s": 0.5417}, {"black_segments"}),
        ({"longest_frozen_s": 1.0}, set()),
        ({"longest_frozen_s": 1.0417}, {"frozen_segments"}),
        ({"colorfulness": 0.4}, {"colour"}),
    ],
)
def test_each_limit(over, failing):
    verdicts = _verdicts(_metrics(**over))
    assert {name for name, ok in verdicts.items() if not ok} == failing


def test_audio_stream_must_match_the_request():
    assert _verdicts(_metrics(), probe=_probe(audio=False))["audio_present"] is False
    # no audio_not_silent check when there is nothing to listen to
    assert "audio_not_silent" not in _verdicts(_metrics(), probe=_probe(audio=False))
    no_audio = dataclasses.replace(FULL, audio=False)
    assert _verdicts(_metrics(), exp=no_audio)["audio_present"] is False
    assert _verdicts(_metrics(), exp=no_audio, probe=_probe(audio=False))["audio_present"] is True


def test_unset_expectations_are_not_checked():
    names = [c.name for c in run_checks(_probe(), _metrics(), Expectations(), CheckThresholds())]
    assert names == ["black_segments", "frozen_segments"]


def test_colour_is_checked_only_when_the_negative_prompt_excludes_black_and_white():
    for neg, wanted in [
        ("black and white", True),
        ("Monochrome, grainy", True),
        ("no B&W please", True),
        ("greyscale", True),
        ("blurry, text", False),
        (None, False),
        ("whiteboard", False),
    ]:
        assert Expectations(negative_prompt=neg).wants_colour() is wanted, neg


def test_check_values_and_expectations_are_readable():
    checks = run_checks(_probe(), _metrics(duration_s=7.96), FULL, CheckThresholds())
    by_name = {c.name: c for c in checks}
    assert by_name["duration"].to_dict() == {
        "name": "duration",
        "passed": True,
        "value": 7.96,
        "expected": "8 +/- 0.1 s",
    }
    assert by_name["resolution"].value == "1280x720"
    assert by_name["aspect_ratio"].expected == "16:9"
    assert by_name["frozen_segments"].expected == "longest <= 1 s"
    assert by_name["audio_not_silent"].expected == "silent fraction <= 0.9 (< -60 dBFS)"


def test_thresholds_are_settings():
    thr = CheckThresholds(duration_tolerance=0.5, max_black_segment=2.0)
    assert _verdicts(_metrics(duration_s=8.4, longest_black_s=1.5), thr=thr)["duration"] is True
    assert _verdicts(_metrics(longest_black_s=1.5), thr=thr)["black_segments"] is True
    assert CheckThresholds().freeze_noise == pytest.approx(0.001)
    assert CheckThresholds().silence_threshold == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"max_black_segmnt": 1}, "extra_forbidden"),
        ({"duration_tolerance": -1}, "greater_than_equal"),
        ({"max_silent_fraction": 2}, "less_than_equal"),
        ({"scene_threshold": 0}, "greater_than"),
    ],
)
def test_thresholds_reject_bad_fields(fields, error):
    with pytest.raises(ValidationError) as info:
        CheckThresholds.parse(fields)
    assert info.value.errors()[0]["type"] == error


def test_parsed_thresholds_are_typed_and_keep_the_defaults():
    thr = CheckThresholds.parse({"max_black_segment": "0.25", "frame_tolerance": 2})
    assert thr == CheckThresholds(max_black_segment=0.25, frame_tolerance=2)
    assert thr.to_dict()["max_black_segment"] == 0.25 and thr.scene_threshold == 0.3
    with pytest.raises(ValidationError):
        Expectations.parse({"aspect_ratio": "wide"})
    assert Expectations.parse({"duration": "8"}).duration == 8.0


def test_expectations_from_a_request():
    req = VideoRequest(
        prompt="a fox",
        resolution="720p",
        aspect_ratio="9:16",
        duration=6,
        generate_audio=False,
        negative_prompt="monochrome",
    )
    exp = Expectations.from_request(req)
    assert dataclasses.asdict(exp) == {
        "duration": 6.0,
        "width": 720,
        "height": 1280,
        "aspect_ratio": "9:16",
        "fps": 24.0,
        "frames": 144,
        "audio": False,
        "negative_prompt": "monochrome",
    }
    assert exp.wants_colour()
    with pytest.raises(ValidationError):
        Expectations.parse({"resolution": "720p"})
    with pytest.raises(TypeError):
        Expectations(resolution="720p")  # type: ignore[call-arg]


def test_aspect_labels():
    assert [
        aspect_label(1280, 720),
        aspect_label(720, 1280),
        aspect_label(1920, 1080),
        aspect_label(640, 480),
        aspect_label(1366, 768),
    ] == ["16:9", "9:16", "16:9", "4:3", "1.7786"]


def test_run_tracker_builds_half_open_segments():
    rt = RunTracker()
    for i, on in enumerate([0, 1, 1, 0, 0, 1]):
        rt.update(bool(on), i / 24)
    assert rt.finish(6 / 24) == [
        Segment(start=round(1 / 24, 6), end=round(3 / 24, 6)),
        Segment(start=round(5 / 24, 6), end=0.25),
    ]
    assert rt.segments[0].duration == round(2 / 24, 4)  # durations to 0.1 ms
