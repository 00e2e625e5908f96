"""The simulator's content responds to the request, measurably, on decoded frames and samples.

Every clip is 720p, 4 s, seed 1 unless said otherwise, rendered once per session and decoded at
320x180 (a quarter of the size: enough for means, colours and frame differences).
"""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import pytest

from veolab.providers.sim.cues import SCALE, read_scene
from veolab.providers.sim.engine import SimDefects, render_mp4
from veolab.request import VideoRequest

W, H = 320, 180


def clip(cache: dict, prompt: str, seed: int = 1, **fields: Any) -> dict[str, Any]:
    """{"frames": (n, H, W, 3) float32, "audio": (2, samples) float32 | None}."""
    fields.setdefault("resolution", "720p")
    fields.setdefault("duration", 4)
    req = VideoRequest.build(prompt=prompt, seed=seed, **fields)
    key = ("cues", req.request_hash())
    if key not in cache:
        data = render_mp4(req, seed, SimDefects())
        with av.open(io.BytesIO(data)) as c:
            frames = np.stack(
                [f.to_ndarray(format="rgb24", width=W, height=H) for f in c.decode(video=0)]
            ).astype(np.float32)
        audio = None
        with av.open(io.BytesIO(data)) as c:
            if c.streams.audio:
                audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        cache[key] = {"frames": frames, "audio": audio}
    return cache[key]


def brightness(c: dict[str, Any]) -> float:
    return float(c["frames"].mean())


def channel_means(c: dict[str, Any]) -> np.ndarray:
    return c["frames"].mean(axis=(0, 1, 2))


def saturation(c: dict[str, Any]) -> float:
    f = c["frames"]
    return float((f.max(axis=3) - f.min(axis=3)).mean())


def frame_diffs(c: dict[str, Any]) -> np.ndarray:
    """Mean absolute difference between consecutive frames (n - 1 values)."""
    return np.abs(np.diff(c["frames"], axis=0)).mean(axis=(1, 2, 3))


def rms(c: dict[str, Any]) -> float:
    return float(np.sqrt((c["audio"].astype(np.float64) ** 2).mean()))


# -- light ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_night_is_dark_and_sunny_is_bright(sim_cache: dict) -> None:
    neutral = brightness(clip(sim_cache, "a lake"))
    night = brightness(clip(sim_cache, "a lake at night"))
    sunny = brightness(clip(sim_cache, "a bright sunny lake"))
    assert night < 0.75 * neutral
    assert sunny > 1.3 * neutral
    assert night > 20  # dim, not a black frame


@pytest.mark.parametrize("word", ["dark", "dim", "moonlit"])
def test_dark_words(sim_cache: dict, word: str) -> None:
    scene = read_scene(f"a {word} lake", None, 1)
    assert scene.brightness < read_scene("a lake", None, 1).brightness


# -- colour --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "channel"), [("a red car", 0), ("a green field", 1), ("a blue car", 2)]
)
def test_colour_words_set_the_palette(sim_cache: dict, prompt: str, channel: int) -> None:
    means = channel_means(clip(sim_cache, prompt))
    others = [means[i] for i in range(3) if i != channel]
    assert means[channel] > 1.5 * max(others), means


def test_without_colour_words_the_palette_is_muted(sim_cache: dict) -> None:
    assert saturation(clip(sim_cache, "a lake")) < 0.5 * saturation(clip(sim_cache, "a red car"))


@pytest.mark.slow
def test_black_and_white_is_grey(sim_cache: dict) -> None:
    mono = clip(sim_cache, "black and white film of a red car")
    assert saturation(mono) < 1.0
    f = mono["frames"]
    assert np.abs(f[..., 0] - f[..., 1]).max() <= 3
    assert saturation(clip(sim_cache, "a monochrome street")) < 1.0


@pytest.mark.slow
def test_negative_prompt_keeps_colour(sim_cache: dict) -> None:
    kept = clip(sim_cache, "black and white film of a street", negative_prompt="black and white")
    assert saturation(kept) > 15
    # "white" in "black and white" is a look, not a colour: the palette is the muted default
    plain = clip(sim_cache, "a street")
    assert abs(brightness(kept) - brightness(plain)) < 20
    other = clip(sim_cache, "monochrome street", negative_prompt="no greyscale please")
    assert saturation(other) > 15


# -- motion --------------------------------------------------------------------------------


@pytest.mark.slow
def test_fast_moves_much_more_than_still(sim_cache: dict) -> None:
    still = frame_diffs(clip(sim_cache, "a still lake")).mean()
    default = frame_diffs(clip(sim_cache, "a lake")).mean()
    fast = frame_diffs(clip(sim_cache, "a fast car chase")).mean()
    assert fast > 5 * still
    assert still < default < fast
    assert still > 0.02  # a calm shot still moves a little: it is not a frozen one


# -- cuts ----------------------------------------------------------------------------------


def test_cut_to_is_one_hard_cut_at_the_midpoint(sim_cache: dict) -> None:
    diffs = frame_diffs(clip(sim_cache, "a forest cut to a beach"))
    assert int(diffs.argmax()) == 47  # between frame 47 and frame 48 of 96
    rest = np.delete(diffs, 47)
    assert diffs[47] > 10 * rest.max()


def test_two_cuts_make_three_shots(sim_cache: dict) -> None:
    diffs = frame_diffs(clip(sim_cache, "a forest, cut to a beach, cut to a city"))
    jumps = sorted(np.argsort(diffs)[-2:].tolist())
    assert jumps == [31, 63]  # shots of 32 frames
    assert diffs[jumps].min() > 10 * np.delete(diffs, jumps).max()


def test_no_cut_no_jump(sim_cache: dict) -> None:
    diffs = frame_diffs(clip(sim_cache, "a forest and a beach"))
    assert diffs.max() < 3 * np.median(diffs) + 1


def test_shortcut_is_not_a_cut() -> None:
    assert read_scene("a shortcut to the beach", None, 1).cuts == 0
    assert read_scene("a forest. Cut to: a beach", None, 1).cuts == 1


# -- audio ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_quiet_prompt_is_near_silence(sim_cache: dict) -> None:
    loud = rms(clip(sim_cache, "a forest"))
    quiet = rms(clip(sim_cache, "a silent forest"))
    assert loud > 0.03
    assert quiet < loud / 100


def _envelope_rate(audio: np.ndarray) -> float:
    """The strongest loudness modulation between 0.5 and 10 Hz (the rhythm)."""
    mono = audio.mean(axis=0).astype(np.float64)
    hop = 480  # 10 ms
    env = np.sqrt((mono[: len(mono) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1))
    spec = np.abs(np.fft.rfft(env - env.mean()))
    freqs = np.fft.rfftfreq(len(env), hop / 48_000)
    band = (freqs > 0.5) & (freqs < 10)
    return float(freqs[band][spec[band].argmax()])


def _main_pitch(audio: np.ndarray, start: int = 0, stop: int | None = None) -> float:
    mono = audio.mean(axis=0)[start:stop].astype(np.float64)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / 48_000)[spec.argmax()])


def test_rhythm_follows_motion(sim_cache: dict) -> None:
    assert _envelope_rate(clip(sim_cache, "a fast car chase")["audio"]) == pytest.approx(4, abs=0.3)
    assert _envelope_rate(clip(sim_cache, "a lake")["audio"]) == pytest.approx(2, abs=0.3)
    assert _envelope_rate(clip(sim_cache, "a still lake")["audio"]) == pytest.approx(1, abs=0.3)


def test_pitch_follows_the_words(sim_cache: dict) -> None:
    lake, forest = read_scene("a lake", None, 1).tones, read_scene("a forest", None, 1).tones
    assert lake != forest
    assert set(lake + forest) <= set(SCALE)
    assert _main_pitch(clip(sim_cache, "a lake")["audio"]) == pytest.approx(lake[0], abs=1.0)
    assert _main_pitch(clip(sim_cache, "a forest")["audio"]) == pytest.approx(forest[0], abs=1.0)


def test_a_cut_shifts_the_pitch(sim_cache: dict) -> None:
    audio = clip(sim_cache, "a forest cut to a beach")["audio"]
    first = _main_pitch(audio, 0, 96_000)
    second = _main_pitch(audio, 96_000, 192_000)
    assert second == pytest.approx(first * 1.25, rel=0.01)


def test_no_audio_when_not_asked(sim_cache: dict) -> None:
    assert clip(sim_cache, "a lake", generate_audio=False)["audio"] is None
