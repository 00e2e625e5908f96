"""What a clip should be, the limits the checks apply, and the checks themselves.

    >>> exp = Expectations(duration=8, width=1280, height=720, fps=24, frames=192, audio=True)
    >>> CheckThresholds().max_black_segment
    0.5

:class:`Expectations` says what was asked for (any field ``None`` is not checked);
:class:`CheckThresholds` holds every setting of the detectors and every limit of the checks (it
is embedded in experiment files under ``checks:``, so unknown keys are an error). Check names
and their meaning are part of the documented JSON contract (docs/analysis.md).

They are plain dataclasses, so that ``veolab check`` does not build pydantic models before it
decodes (issue 11); input from a person (``checks:``, ``--threshold``) goes through
:meth:`CheckThresholds.parse`, which validates it with pydantic against each field's limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import TYPE_CHECKING, Any, get_type_hints

if TYPE_CHECKING:
    from veolab.analysis.result import Metrics, Probe
    from veolab.request import VideoRequest

# Words in a negative prompt that exclude a black-and-white picture.
MONOCHROME_WORDS = (
    "black and white",
    "black-and-white",
    "b&w",
    "monochrome",
    "monochromatic",
    "grayscale",
    "greyscale",
    "desaturated",
)


def _limit(default: Any, **limits: Any) -> Any:
    """A dataclass field with pydantic's limits (``ge``, ``gt``, ``le``, ``pattern``), which
    :func:`_validator` applies to input."""
    return field(default=default, metadata={"limits": limits})


@cache
def _validator(cls: type) -> Any:
    """A pydantic model with ``cls``'s fields and limits, unknown fields forbidden."""
    from pydantic import ConfigDict, Field, create_model

    hints = get_type_hints(cls)
    spec: dict[str, Any] = {
        f.name: (hints[f.name], Field(default=f.default, **f.metadata.get("limits", {})))
        for f in fields(cls)
    }
    return create_model(cls.__name__, __config__=ConfigDict(extra="forbid"), **spec)


def parse(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """``data`` validated against the fields of dataclass ``cls`` and their limits;
    raises pydantic's ValidationError (the callers word it)."""
    model = _validator(cls)  # type: ignore[arg-type]  # a class is hashable
    return cls(**model.model_validate(dict(data)).model_dump())


@dataclass
class Expectations:
    """What the clip should be; every field is optional and ``None`` means "not checked"."""

    duration: float | None = _limit(None, gt=0)  # seconds
    width: int | None = _limit(None, gt=0)
    height: int | None = _limit(None, gt=0)
    aspect_ratio: str | None = _limit(None, pattern=r"^\d+:\d+$")  # "16:9"
    fps: float | None = _limit(None, gt=0)
    frames: int | None = _limit(None, gt=0)
    audio: bool | None = None  # True: an audio stream must be there; False: must not
    negative_prompt: str | None = None  # excluding black and white requires colour

    @classmethod
    def from_request(cls, request: VideoRequest) -> Expectations:
        """Everything a Veo 3.1 request implies: geometry, 24 fps, frame count, audio."""
        geo = request.geometry()
        return cls(
            duration=float(request.duration),
            width=geo.width,
            height=geo.height,
            aspect_ratio=request.aspect_ratio,
            fps=float(geo.fps),
            frames=geo.frames,
            audio=request.generate_audio,
            negative_prompt=request.negative_prompt,
        )

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Expectations:
        """Validated input (see :func:`parse`)."""
        return parse(cls, data)  # type: ignore[no-any-return]

    def wants_colour(self) -> bool:
        """True when the negative prompt rules out a black-and-white picture."""
        low = (self.negative_prompt or "").lower()
        return any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", low) for w in MONOCHROME_WORDS)


@dataclass
class CheckThresholds:
    """Detector settings and check limits (defaults follow FFmpeg's detectors where one exists)."""

    # -- limits of the checks -------------------------------------------------------------
    duration_tolerance: float = _limit(0.1, ge=0)  # seconds either side
    fps_tolerance: float = _limit(0.01, ge=0)
    frame_tolerance: int = _limit(0, ge=0)  # frames either side
    aspect_tolerance: float = _limit(0.01, ge=0)  # relative
    max_black_segment: float = _limit(0.5, ge=0)  # seconds
    max_frozen_segment: float = _limit(1.0, ge=0)  # seconds
    min_colorfulness: float = _limit(5.0, ge=0)  # Hasler-Suesstrunk M
    max_silent_fraction: float = _limit(0.9, ge=0, le=1)  # of the audio's duration

    # -- detector settings ----------------------------------------------------------------
    black_pixel_threshold: float = _limit(0.10, ge=0, le=1)  # blackdetect pix_th
    black_picture_ratio: float = _limit(0.98, gt=0, le=1)  # blackdetect pic_th
    black_min_duration: float = _limit(0.0, ge=0)  # list black runs this long or more
    freeze_noise_db: float = _limit(-60.0, le=0)  # freezedetect n
    freeze_min_duration: float = _limit(0.5, ge=0)  # list freezes this long or more
    scene_threshold: float = _limit(0.3, gt=0, le=1)  # FFmpeg scene score for a cut
    silence_threshold_db: float = _limit(-60.0, le=0)  # silencedetect n (dBFS)
    silence_min_duration: float = _limit(0.5, ge=0)  # silencedetect d

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CheckThresholds:
        """Validated input: an experiment's ``checks:``, ``--threshold`` flags (see
        :func:`parse`)."""
        return parse(cls, data)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def freeze_noise(self) -> float:
        return 10 ** (self.freeze_noise_db / 20)

    @property
    def silence_threshold(self) -> float:
        return 10 ** (self.silence_threshold_db / 20)


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: the measured ``value`` against the ``expected`` one."""

    name: str
    passed: bool
    value: float | int | str | bool | None
    expected: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "expected": self.expected,
        }


def _num(x: float) -> str:
    return f"{x:g}"


def aspect_label(width: int, height: int) -> str:
    """'16:9' for 1280x720; a decimal ratio when the reduced fraction is unwieldy."""
    g = math.gcd(width, height) or 1
    w, h = width // g, height // g
    return f"{w}:{h}" if max(w, h) <= 64 else f"{width / height:.4f}"


def run_checks(
    probe: Probe, metrics: Metrics, exp: Expectations, thr: CheckThresholds
) -> list[Check]:
    """Every check that applies to ``exp``, in a fixed order."""
    checks: list[Check] = []

    def add(name: str, passed: bool, value: float | int | str | bool | None, expected: str) -> None:
        checks.append(Check(name, bool(passed), value, expected))

    if exp.duration is not None:
        d = metrics.duration_s
        add(
            name="duration",
            passed=abs(d - exp.duration) <= thr.duration_tolerance + 1e-9,
            value=round(d, 4),
            expected=f"{_num(exp.duration)} +/- {_num(thr.duration_tolerance)} s",
        )
    size = f"{metrics.width}x{metrics.height}"
    if exp.width is not None or exp.height is not None:
        ok = (exp.width in (None, metrics.width)) and (exp.height in (None, metrics.height))
        want = f"{exp.width or '*'}x{exp.height or '*'}"
        add(name="resolution", passed=ok, value=size, expected=want)
    want_ar = exp.aspect_ratio
    if want_ar is None and exp.width and exp.height:
        want_ar = aspect_label(exp.width, exp.height)
    if want_ar is not None:
        a, b = (int(x) for x in want_ar.split(":"))
        ratio = metrics.width / metrics.height if metrics.height else 0.0
        ok = b > 0 and abs(ratio - a / b) <= thr.aspect_tolerance * (a / b)
        add(
            name="aspect_ratio",
            passed=ok,
            value=aspect_label(metrics.width, metrics.height),
            expected=want_ar,
        )
    if exp.fps is not None:
        fps = metrics.fps
        add(
            name="fps",
            passed=fps is not None and abs(fps - exp.fps) <= thr.fps_tolerance + 1e-9,
            value=None if fps is None else round(fps, 4),
            expected=f"{_num(exp.fps)} fps",
        )
    if exp.frames is not None:
        n = metrics.frame_count
        want = f"{exp.frames}" + (f" +/- {thr.frame_tolerance}" if thr.frame_tolerance else "")
        add(
            name="frame_count",
            passed=abs(n - exp.frames) <= thr.frame_tolerance,
            value=n,
            expected=want,
        )
    has_audio = probe.audio is not None
    if exp.audio is not None:
        add(
            name="audio_present",
            passed=has_audio == exp.audio,
            value=has_audio,
            expected="audio stream" if exp.audio else "no audio stream",
        )
    if exp.audio and has_audio:
        frac = metrics.silent_fraction if metrics.silent_fraction is not None else 1.0
        add(
            name="audio_not_silent",
            passed=frac <= thr.max_silent_fraction,
            value=round(frac, 4),
            expected=f"silent fraction <= {_num(thr.max_silent_fraction)} "
            f"(< {_num(thr.silence_threshold_db)} dBFS)",
        )
    add(
        name="black_segments",
        passed=metrics.longest_black_s <= thr.max_black_segment + 1e-9,
        value=round(metrics.longest_black_s, 4),
        expected=f"longest <= {_num(thr.max_black_segment)} s",
    )
    add(
        name="frozen_segments",
        passed=metrics.longest_frozen_s <= thr.max_frozen_segment + 1e-9,
        value=round(metrics.longest_frozen_s, 4),
        expected=f"longest <= {_num(thr.max_frozen_segment)} s",
    )
    if exp.wants_colour():
        c = metrics.colorfulness
        add(
            name="colour",
            passed=c is not None and c >= thr.min_colorfulness,
            value=None if c is None else round(c, 3),
            expected=f"colorfulness >= {_num(thr.min_colorfulness)}",
        )
    return checks


def describe_failures(checks: list[Check]) -> str:
    failed = [c.name for c in checks if not c.passed]
    return ", ".join(failed)
