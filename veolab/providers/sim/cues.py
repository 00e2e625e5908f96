"""Read a request into a scene description: what the simulator draws and plays.

The cues are deliberately simple and documented, so that A/B tests on the simulator show real,
measurable differences:

- colour words set the palette; reference images tint it;
- night/dark/dim lower the brightness, bright/sunny/daylight raise it;
- fast/action/running raise the motion, static/still/calm lower it;
- "black and white"/"monochrome" make it grey unless the negative prompt names them;
- each "cut to" adds a hard scene cut;
- the audio is a mix of tones whose pitch follows the prompt's words and whose rhythm follows
  the motion; silent/quiet give near silence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "crimson": (200, 20, 60),
    "orange": (240, 140, 30),
    "amber": (255, 176, 0),
    "yellow": (240, 220, 40),
    "gold": (230, 180, 40),
    "golden": (230, 180, 40),
    "green": (40, 180, 70),
    "emerald": (20, 160, 100),
    "teal": (20, 150, 150),
    "cyan": (40, 210, 230),
    "blue": (40, 80, 220),
    "navy": (20, 30, 120),
    "purple": (140, 50, 190),
    "violet": (150, 80, 230),
    "magenta": (220, 40, 200),
    "pink": (240, 120, 180),
    "brown": (130, 80, 40),
    "white": (235, 235, 235),
    "silver": (190, 195, 200),
    "warm": (245, 170, 90),
    "cool": (90, 150, 230),
    "neon": (60, 255, 140),
}

# Muted defaults when the prompt names no colour: picked by seed.
# Motion levels (pixels per frame at working size): calm still moves a little, so a calm clip is
# never mistaken for a frozen one (a frozen segment decodes to ~0.05 mean abs frame difference).
MOTION_CALM, MOTION_DEFAULT, MOTION_FAST = 0.3, 1.2, 5.0

DEFAULT_PALETTES: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((70, 90, 120), (160, 130, 100), (200, 190, 170)),
    ((60, 110, 90), (180, 160, 120), (120, 140, 170)),
    ((110, 80, 100), (190, 150, 120), (90, 120, 150)),
    ((80, 100, 70), (170, 170, 140), (140, 100, 80)),
)

DARK = (
    "night",
    "dark",
    "dim",
    "dusk",
    "moonlit",
    "shadow",
    "shadowy",
    "gloomy",
    "midnight",
    "low-key",
)
BRIGHT = (
    "bright",
    "sunny",
    "daylight",
    "sunlit",
    "noon",
    "high-key",
    "brilliant",
    "daytime",
    "well-lit",
)
FAST = (
    "fast",
    "action",
    "running",
    "racing",
    "chase",
    "rapid",
    "explosive",
    "dynamic",
    "sprinting",
    "dancing",
)
CALM = (
    "static",
    "still",
    "calm",
    "slow",
    "serene",
    "motionless",
    "tranquil",
    "locked-off",
    "tripod",
)
QUIET = ("silent", "silence", "quiet", "mute", "muted", "no sound", "hushed")
MONO = ("black and white", "black-and-white", "monochrome", "grayscale", "greyscale", "b&w")

# A pentatonic scale (Hz) that word hashes pick notes from.
SCALE = (196.0, 220.0, 261.63, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33, 659.25)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z&-]*", text.lower())


_CUT = re.compile(r"\bcut to\b")
_MONO_PHRASE = re.compile("|".join(re.escape(w) for w in MONO))


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    low = text.lower()
    tokens = set(_words(low))
    return any((w in low) if " " in w else (w in tokens) for w in words)


@dataclass
class SceneSpec:
    """What one clip should look and sound like (all derived from the request)."""

    palette: list[tuple[int, int, int]]
    brightness: float  # 0..1 scale on colours
    motion: float  # pixels per frame at working size, roughly
    monochrome: bool
    cuts: int
    tones: list[float] = field(default_factory=list)
    beats_per_second: float = 2.0
    loudness: float = 0.25  # peak amplitude of the mix
    colour_named: bool = False


def read_scene(prompt: str, negative_prompt: str | None, seed: int) -> SceneSpec:
    """Turn the prompt's words into a SceneSpec (deterministic for a prompt and seed)."""
    low = prompt.lower()
    tokens = _words(low)
    negative = (negative_prompt or "").lower()

    named: list[tuple[int, int, int]] = []
    # "black and white" names a look, not the colour white
    for tok in _words(_MONO_PHRASE.sub(" ", low)):
        if tok in COLOURS and COLOURS[tok] not in named:
            named.append(COLOURS[tok])
    if named:
        palette = list(named[:3])
        while len(palette) < 3:
            r, g, b = palette[len(palette) % len(named)]
            palette.append(
                (
                    min(255, int(r * 0.6 + 60)),
                    min(255, int(g * 0.6 + 60)),
                    min(255, int(b * 0.6 + 60)),
                )
            )
    else:
        palette = list(DEFAULT_PALETTES[seed % len(DEFAULT_PALETTES)])

    brightness = 0.7
    if _has_any(low, DARK):
        brightness = 0.45  # dim, not black: a night scene must not read as a black frame
    if _has_any(low, BRIGHT):
        brightness = 1.0 if brightness > 0.5 else 0.6

    motion = MOTION_DEFAULT
    if _has_any(low, FAST):
        motion = MOTION_FAST
    elif _has_any(low, CALM):
        motion = MOTION_CALM

    mono = _has_any(low, MONO) and not _has_any(negative, MONO)

    cuts = len(_CUT.findall(low))

    content = [t for t in tokens if len(t) > 3][:12] or tokens[:4] or ["veo"]
    tones = []
    for word in content[:4]:
        h = int(hashlib.sha256(f"{word}:{seed}".encode()).hexdigest(), 16)
        tones.append(SCALE[h % len(SCALE)])
    loud = 0.0006 if _has_any(low, QUIET) else 0.25
    bps = 4.0 if motion >= MOTION_FAST else 1.0 if motion <= MOTION_CALM else 2.0

    return SceneSpec(
        palette=palette,
        brightness=brightness,
        motion=motion,
        monochrome=mono,
        cuts=cuts,
        tones=tones,
        beats_per_second=bps,
        loudness=loud,
        colour_named=bool(named),
    )
