"""Time spans: the segments that detectors report (black, frozen, silent) and how they are built.

A :class:`Segment` is a half-open interval ``[start, end)`` in seconds from the start of the
stream. :class:`RunTracker` turns a per-step on/off signal into segments as it streams, holding
only the start of the run in progress.
"""

from __future__ import annotations

from dataclasses import dataclass


def _r(x: float) -> float:
    return round(float(x), 6)


@dataclass(frozen=True, slots=True)
class Segment:
    """A span of the clip, in seconds: ``start`` inclusive, ``end`` exclusive (in JSON:
    ``{"start", "end", "duration"}``)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 4)

    def to_dict(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end, "duration": self.duration}


class RunTracker:
    """Collects the runs of a boolean signal sampled at increasing times.

    >>> rt = RunTracker()
    >>> for t, on in [(0.0, False), (0.5, True), (1.0, True), (1.5, False)]:
    ...     rt.update(on, t)
    >>> rt.finish(2.0)
    [Segment(start=0.5, end=1.5)]
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.segments: list[Segment] = []

    def update(self, on: bool, t: float) -> None:
        if on and self.start is None:
            self.start = t
        elif not on and self.start is not None:
            self.segments.append(Segment(start=_r(self.start), end=_r(t)))
            self.start = None

    def finish(self, end: float) -> list[Segment]:
        if self.start is not None:
            self.segments.append(Segment(start=_r(self.start), end=_r(end)))
            self.start = None
        return self.segments


def longest(segments: list[Segment]) -> float:
    return max((s.duration for s in segments), default=0.0)


def at_least(segments: list[Segment], min_duration: float) -> list[Segment]:
    """The segments lasting ``min_duration`` or more (a small epsilon absorbs float noise)."""
    return [s for s in segments if s.duration >= min_duration - 1e-9]
