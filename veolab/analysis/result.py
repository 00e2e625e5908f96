"""The typed result of an analysis and its JSON form (a documented contract, docs/analysis.md).

``AnalysisResult.to_dict()`` has exactly four top-level keys: ``probe`` (container and stream
facts from the headers), ``metrics`` (what decoding measured), ``checks`` (a list of
``{name, passed, value, expected}``) and ``passed``. Thumbnails and the contact sheet are bytes
kept beside it, written by :meth:`AnalysisResult.write_images`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from veolab._fs import atomic_write_bytes
from veolab.analysis.checks import Check
from veolab.analysis.segments import Segment


@dataclass
class VideoProbe:
    """The video stream as its headers describe it."""

    codec: str
    profile: str | None
    width: int
    height: int
    pix_fmt: str | None
    fps: float | None  # average frame rate from the header
    fps_fraction: str | None  # e.g. "24/1"
    frame_count: int | None  # from the container index, None when it has none
    duration_s: float | None  # stream duration after the edit list
    start_s: float | None
    time_base: str | None
    bit_rate: int | None


@dataclass
class AudioProbe:
    """The first audio stream as its headers describe it."""

    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    layout: str | None
    duration_s: float | None
    start_s: float | None
    bit_rate: int | None


@dataclass
class Probe:
    """Container facts read with PyAV before decoding."""

    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    brand: str | None  # the MP4 major brand, e.g. "isom"
    encoder: str | None  # the container's encoder tag ("Google" for Veo)
    size_bytes: int
    duration_s: float | None  # container duration
    bit_rate: int | None
    video: VideoProbe
    audio: AudioProbe | None


@dataclass
class Metrics:
    """What one decode pass measured. Times are seconds from the first frame."""

    # decoded geometry and timing
    width: int
    height: int
    frame_count: int
    duration_s: float  # frame_count frames, last one lasting one frame interval
    fps: float | None  # from the decoded timestamps
    # picture
    brightness_mean: float  # mean luma, 0-255 code values
    black_fraction: float  # share of frames that are black
    black_segments: list[Segment]
    n_black_segments: int
    longest_black_s: float
    frozen_segments: list[Segment]
    n_frozen_segments: int
    longest_frozen_s: float
    cuts: list[float]  # times of the first frame after each hard cut
    n_cuts: int
    sharpness: float  # variance of the Laplacian at a short side of 360 px
    colorfulness: float  # Hasler and Suesstrunk M
    motion: float  # mean absolute luma difference between consecutive frames (0-255)
    flicker: float  # mean |b(t) - (b(t-1) + b(t+1)) / 2| of frame mean luma (0-255)
    # sound (None when there is no audio stream)
    audio_duration_s: float | None = None
    loudness_lufs: float | None = None  # ITU-R BS.1770 integrated; None below the -70 LUFS gate
    audio_peak_dbfs: float | None = None  # sample peak; None for digital silence
    silent_segments: list[Segment] | None = None
    n_silent_segments: int | None = None
    silent_fraction: float | None = None  # share of the audio inside silent segments


def plain(value: Any) -> Any:
    """A result dataclass as JSON-ready data (segments with their duration)."""
    if isinstance(value, Segment | Check):
        return value.to_dict()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if hasattr(value, "item"):  # a NumPy scalar
        return value.item()
    return value


class Thumbnail(NamedTuple):
    """A still of the clip: ``name`` ("first", "middle", "last", "t01_0.50s"), time, JPEG."""

    name: str
    time_s: float
    jpeg: bytes


@dataclass
class AnalysisResult:
    """Everything one analysis found; ``passed`` is True when every check passed."""

    probe: Probe
    metrics: Metrics
    checks: list[Check]
    thumbnails: list[Thumbnail] = field(default_factory=list)
    contact_sheet: bytes = b""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: ``probe``, ``metrics``, ``checks``, ``passed``."""
        return {
            "probe": plain(self.probe),
            "metrics": plain(self.metrics),
            "checks": [c.to_dict() for c in self.checks],
            "passed": self.passed,
        }

    def numeric_metrics(self) -> dict[str, float]:
        """Every numeric metric as a flat ``name -> float`` (for MLflow); None values left out."""
        out: dict[str, float] = {}
        for key, value in plain(self.metrics).items():
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float):
                out[key] = float(value)
        if self.probe.audio is not None:
            out["sample_rate"] = float(self.probe.audio.sample_rate)
            out["channels"] = float(self.probe.audio.channels)
        out["checks_failed"] = float(len(self.failed_checks))
        return out

    def write_images(self, directory: Path | str) -> list[Path]:
        """Write ``thumbnails/<name>.jpg`` and ``contact_sheet.jpg`` under ``directory``."""
        directory = Path(directory)
        paths = [
            atomic_write_bytes(directory / "thumbnails" / f"{t.name}.jpg", t.jpeg)
            for t in self.thumbnails
        ]
        if self.contact_sheet:
            paths.append(atomic_write_bytes(directory / "contact_sheet.jpg", self.contact_sheet))
        return paths
