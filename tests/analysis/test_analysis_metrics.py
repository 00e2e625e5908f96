"""The analysis finds what is in clips built frame by frame (tests/media.py), within one frame."""

from __future__ import annotations

import functools
import json

import av
import cv2
import numpy as np
import pyloudnorm
import pytest
from media import (
    BLACK,
    FPS,
    KNOWN_TRUTH,
    encode,
    grey,
    known_clip,
    pattern,
    quiet,
    solid,
    tone,
)

from veolab.analysis import CheckThresholds, Expectations, analyze_video
from veolab.analysis.audio_metrics import audio_samples

FRAME = 1 / FPS


@functools.cache
def _known():
    data = known_clip()
    return data, analyze_video(
        data, Expectations(duration=6, width=320, height=180, fps=24, frames=144, audio=True)
    )


def _spans(segments):
    return [(s.start, s.end) for s in segments]


def _close(found, truth, tol=FRAME):
    assert len(found) == len(truth), (found, truth)
    for (a, b), (c, d) in zip(found, truth, strict=True):
        assert abs(a - c) <= tol + 1e-6 and abs(b - d) <= tol + 1e-6, (found, truth)


def test_known_clip_geometry_and_timing():
    _, res = _known()
    m = res.metrics
    assert (m.width, m.height, m.frame_count, m.fps, m.duration_s) == (320, 180, 144, 24.0, 6.0)
    assert res.probe.video.codec == "h264" and res.probe.audio is not None
    assert res.probe.audio.sample_rate == 48000 and res.probe.audio.channels == 2
    assert abs(m.audio_duration_s - 6.0) < 0.03


def test_black_span_found_within_a_frame():
    _, res = _known()
    _close(_spans(res.metrics.black_segments), KNOWN_TRUTH["black"])
    assert res.metrics.black_fraction == pytest.approx(18 / 144, abs=1e-6)
    assert res.metrics.longest_black_s == pytest.approx(0.75, abs=FRAME)


def test_frozen_spans_found_within_a_frame():
    _, res = _known()
    # the black span is frozen too (identical frames), as FFmpeg's freezedetect also reports
    _close(_spans(res.metrics.frozen_segments), [(1.25, 2.0), (2.5, 3.75)])
    assert res.metrics.longest_frozen_s == pytest.approx(1.25, abs=FRAME)
    assert {c.name: c.passed for c in res.checks}["frozen_segments"] is False


def test_cuts_found_at_the_right_frames():
    _, res = _known()
    assert len(res.metrics.cuts) == len(KNOWN_TRUTH["cuts"])
    for found, truth in zip(res.metrics.cuts, KNOWN_TRUTH["cuts"], strict=True):
        assert abs(found - truth) <= FRAME / 2


def test_silent_spans_found_within_a_frame():
    _, res = _known()
    _close(_spans(res.metrics.silent_segments), KNOWN_TRUTH["silent"])
    assert res.metrics.silent_fraction == pytest.approx(2.25 / 6.0, abs=0.02)
    # a 0.5 peak sine, give or take the AAC codec's ringing
    assert res.metrics.audio_peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.5)


def test_loudness_equals_pyloudnorm_on_the_decoded_signal():
    data, res = _known()
    import io

    with av.open(io.BytesIO(data)) as c:
        chunks = [audio_samples(f) for f in c.decode(audio=0)]
    signal = np.concatenate(chunks, axis=1).T
    expected = pyloudnorm.Meter(48000).integrated_loudness(signal)
    assert res.metrics.loudness_lufs == pytest.approx(expected, abs=0.01)


def test_loudness_of_a_full_scale_sine_and_of_silence():
    # BS.1770: a 997 Hz sine of peak 0.5 (-6.02 dBFS) on both channels reads -6.02 LUFS
    loud = analyze_video(encode([pattern(i) for i in range(48)], audio=tone(2.0, 997, 0.5)))
    assert loud.metrics.loudness_lufs == pytest.approx(-6.02, abs=0.3)
    silent = analyze_video(encode([pattern(i) for i in range(48)], audio=quiet(2.0)))
    assert silent.metrics.loudness_lufs is None
    assert silent.metrics.audio_peak_dbfs is None or silent.metrics.audio_peak_dbfs < -90
    assert silent.metrics.silent_fraction == 1.0
    assert "loudness_lufs" not in silent.numeric_metrics()


def test_grey_has_no_colour_and_colour_check_fails():
    exp = Expectations(negative_prompt="black and white")
    g = analyze_video(encode([grey(i) for i in range(24)]), exp)
    c = analyze_video(encode([pattern(i) for i in range(24)]), exp)
    assert g.metrics.colorfulness < 1.0
    assert c.metrics.colorfulness > 40.0
    assert [(x.name, x.passed) for x in g.checks if x.name == "colour"] == [("colour", False)]
    assert [(x.name, x.passed) for x in c.checks if x.name == "colour"] == [("colour", True)]


def test_brightness_follows_the_picture():
    dark = analyze_video(encode([solid((40, 40, 40))] * 12))
    mid = analyze_video(encode([solid((128, 128, 128))] * 12))
    # limited-range luma of an sRGB grey v is 16 + 219 * v / 255
    assert dark.metrics.brightness_mean == pytest.approx(16 + 219 * 40 / 255, abs=1.5)
    assert mid.metrics.brightness_mean == pytest.approx(16 + 219 * 128 / 255, abs=1.5)
    black = analyze_video(encode([BLACK] * 12))
    assert black.metrics.black_fraction == 1.0
    assert _spans(black.metrics.black_segments) == [(0.0, 0.5)]


def test_motion_grows_with_speed():
    slow = analyze_video(encode([pattern(i, speed=0.5) for i in range(24)]))
    fast = analyze_video(encode([pattern(i, speed=6.0) for i in range(24)]))
    assert fast.metrics.motion > 3 * slow.metrics.motion > 0


def test_sharpness_drops_when_the_picture_is_blurred():
    rng = np.random.default_rng(3)
    detail = [
        np.roll(rng.integers(0, 256, size=(180, 320, 3), dtype=np.uint8), i, axis=1)
        for i in range(12)
    ]
    sharp = analyze_video(encode(detail, crf=10))
    blurred = analyze_video(encode([cv2.GaussianBlur(f, (0, 0), 2.5) for f in detail], crf=10))
    assert sharp.metrics.sharpness > 10 * blurred.metrics.sharpness > 0


def test_flicker_sees_alternating_brightness():
    steady = analyze_video(encode([solid((120, 120, 120))] * 24))
    flicker = analyze_video(encode([solid((110 + 20 * (i % 2),) * 3) for i in range(24)]))
    assert steady.metrics.flicker < 0.5
    # alternating +/- 10 sRGB levels: |b(t) - mean of neighbours| = 20 * 219 / 255 luma levels
    assert flicker.metrics.flicker == pytest.approx(20 * 219 / 255, abs=1.5)


@pytest.mark.parametrize(("fps", "n"), [(25, 100), (30, 120)])
def test_wrong_frame_rate_is_measured_and_fails(fps, n):
    res = analyze_video(
        encode([pattern(i) for i in range(n)], fps=fps), Expectations(duration=4, fps=24, frames=96)
    )
    assert res.metrics.fps == pytest.approx(fps, abs=1e-6)
    assert res.metrics.duration_s == pytest.approx(4.0, abs=1e-6)
    assert {c.name: c.passed for c in res.checks} == {
        "duration": True,
        "fps": False,
        "frame_count": False,
        "black_segments": True,
        "frozen_segments": True,
    }


def test_wrong_length_fails_duration_and_frame_count():
    res = analyze_video(
        encode([pattern(i) for i in range(72)]), Expectations(duration=4, fps=24, frames=96)
    )
    by = {c.name: c for c in res.checks}
    assert (by["duration"].passed, by["duration"].value) == (False, 3.0)
    assert (by["frame_count"].passed, by["frame_count"].value) == (False, 72)


def test_thresholds_change_what_the_detectors_report():
    data, _ = _known()
    strict = analyze_video(
        data, thresholds=CheckThresholds(black_min_duration=1.0, freeze_min_duration=1.0)
    )
    assert _spans(strict.metrics.black_segments) == []  # 0.75 s is shorter than 1.0
    _close(_spans(strict.metrics.frozen_segments), [(2.5, 3.75)])
    assert strict.metrics.longest_black_s == pytest.approx(0.75, abs=FRAME)


def test_result_is_json_and_flat_metrics_are_floats():
    _, res = _known()
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert list(d) == ["probe", "metrics", "checks", "passed"]
    assert d["passed"] is False
    assert d["metrics"]["black_segments"] == [{"start": 1.25, "end": 2.0, "duration": 0.75}]
    assert all(set(c) == {"name", "passed", "value", "expected"} for c in d["checks"])
    flat = res.numeric_metrics()
    for key in (
        "brightness_mean",
        "black_fraction",
        "sharpness",
        "colorfulness",
        "motion",
        "flicker",
        "loudness_lufs",
        "audio_peak_dbfs",
        "n_cuts",
        "n_black_segments",
        "n_frozen_segments",
        "duration_s",
        "fps",
        "width",
        "height",
        "frame_count",
    ):
        assert isinstance(flat[key], float), key
    assert flat["n_cuts"] == 4.0 and flat["frame_count"] == 144.0 and flat["width"] == 320.0
    assert flat["checks_failed"] == 2.0  # black_segments (0.75 s) and frozen_segments (1.25 s)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_k_weighting_is_pyloudnorms_filter_and_ffmpeg_applies_it_like_scipy(rate):
    from pyloudnorm.iirfilter import IIRfilter
    from scipy.signal import sosfilt

    from veolab.analysis.audio_metrics import KWeighting, k_weighting_sos

    sos = k_weighting_sos(rate)
    shelf = IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf")
    hp = IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")
    for section, f in zip(sos, (shelf, hp), strict=True):
        np.testing.assert_allclose(
            section, np.concatenate([f.b / f.a[0], f.a / f.a[0]]), rtol=1e-12, atol=1e-15
        )
    # the FFmpeg graph keeps its state across calls, as sosfilt with zi does
    x = np.random.default_rng(3).standard_normal((2, rate)) * 0.2
    kw = KWeighting(rate, 2)
    got = np.concatenate([kw.filter(x[:, :1000]), kw.filter(x[:, 1000:])], axis=1)
    np.testing.assert_allclose(got, sosfilt(sos, x, axis=-1), atol=1e-10)


def test_the_analysis_does_not_import_scipy():
    # importing scipy.signal took longer than decoding an 8 s 1080p clip (issue 11)
    import subprocess
    import sys

    code = (
        "import sys, veolab.analysis.pipeline, veolab.analysis.audio_metrics;"
        "print(sorted(m for m in ('scipy', 'pyloudnorm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
