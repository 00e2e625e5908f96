"""Agreement with FFmpeg's own detectors (blackdetect, freezedetect, silencedetect, the scene
score, ebur128) on the same files. Skipped where ``ffmpeg`` is not on PATH."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from media import (
    FPS,
    ffmpeg_black,
    ffmpeg_cuts,
    ffmpeg_freeze,
    ffmpeg_loudness,
    ffmpeg_silence,
    known_clip,
    requires_ffmpeg,
)

from veolab.analysis import CheckThresholds, analyze_video

pytestmark = requires_ffmpeg
FRAME = 1 / FPS
# list every span FFmpeg would list with the same minimum durations
THR = CheckThresholds(black_min_duration=0.1, freeze_min_duration=0.5, silence_min_duration=0.5)


def _agree(ours, theirs, tol=FRAME):
    # FFmpeg prints six significant digits: allow for that rounding on top of the tolerance
    assert len(ours) == len(theirs), (ours, theirs)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        assert abs(a - c) <= tol + 1e-4 and abs(b - d) <= tol + 1e-4, (ours, theirs)


@functools.cache
def _known_path(tmp: str) -> Path:
    path = Path(tmp) / "known.mp4"
    path.write_bytes(known_clip())
    return path


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    path = _known_path(str(tmp_path_factory.mktemp("oracle")))
    return path, analyze_video(path, thresholds=THR)


@pytest.fixture(scope="module")
def sim_defects(tmp_path_factory):
    from veolab.providers.sim.engine import SimDefects, render_mp4
    from veolab.request import VideoRequest

    req = VideoRequest(
        prompt="a lighthouse on a cliff, cut to the sea", resolution="720p", duration=4
    )
    data = render_mp4(req, 11, SimDefects(black_seconds=0.75, frozen_seconds=1.25))
    path = tmp_path_factory.mktemp("oracle-sim") / "defects.mp4"
    path.write_bytes(data)
    return path, analyze_video(path, thresholds=THR)


def _spans(segments):
    return [(s.start, s.end) for s in segments]


@pytest.mark.parametrize("clip", ["known", "sim_defects"])
def test_black_segments_agree_with_blackdetect(clip, request):
    path, res = request.getfixturevalue(clip)
    theirs = ffmpeg_black(path, min_duration=0.1)
    assert theirs, "the clip has a black span"
    _agree(_spans(res.metrics.black_segments), theirs)


@pytest.mark.parametrize("clip", ["known", "sim_defects"])
def test_frozen_segments_agree_with_freezedetect(clip, request):
    path, res = request.getfixturevalue(clip)
    # freezedetect's d counts from the reference frame to the last frozen one: one frame less
    theirs = ffmpeg_freeze(path, min_duration=0.5 - FRAME)
    assert theirs
    _agree(_spans(res.metrics.frozen_segments), theirs)


@pytest.mark.parametrize("clip", ["known", "sim_defects"])
def test_cuts_agree_with_the_scene_score(clip, request):
    path, res = request.getfixturevalue(clip)
    theirs = ffmpeg_cuts(path, threshold=THR.scene_threshold)
    assert theirs
    assert res.metrics.cuts == pytest.approx(theirs, abs=FRAME / 2)


def test_silence_agrees_with_silencedetect(known):
    path, res = known
    theirs = ffmpeg_silence(path, min_duration=0.5)
    assert len(theirs) == 2
    _agree(_spans(res.metrics.silent_segments), theirs, tol=0.005)


def test_loudness_agrees_with_ebur128(known):
    path, res = known
    assert res.metrics.loudness_lufs == pytest.approx(ffmpeg_loudness(path), abs=0.15)


def test_real_veo_clip_agrees_with_ffmpeg(veo_fixture):
    res = analyze_video(veo_fixture, thresholds=THR)
    assert _spans(res.metrics.black_segments) == ffmpeg_black(veo_fixture, 0.1) == []
    assert _spans(res.metrics.frozen_segments) == ffmpeg_freeze(veo_fixture, 0.5 - FRAME) == []
    assert res.metrics.cuts == ffmpeg_cuts(veo_fixture, THR.scene_threshold) == []
    assert _spans(res.metrics.silent_segments) == ffmpeg_silence(veo_fixture, 0.5) == []
    assert res.metrics.loudness_lufs == pytest.approx(ffmpeg_loudness(veo_fixture), abs=0.15)
