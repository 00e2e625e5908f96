"""Video analysis: one streaming decode pass gives container facts, metrics, stills and checks.

    from veolab.analysis import analyze_video, Expectations, CheckThresholds
    res = analyze_video("clip.mp4", Expectations.from_request(request), CheckThresholds())
    res.passed, res.to_dict(), res.numeric_metrics(), res.write_images("out/")

The settings and result types import without PyAV or OpenCV (experiment files embed
:class:`CheckThresholds`); :func:`analyze_video` and :func:`probe_video` load them on first use.
The JSON contract of ``AnalysisResult.to_dict()`` is documented in docs/analysis.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from veolab.analysis.checks import Check, CheckThresholds, Expectations
from veolab.analysis.result import AnalysisResult, Metrics, Probe, Thumbnail
from veolab.analysis.segments import Segment

if TYPE_CHECKING:
    from veolab.analysis.pipeline import analyze_video
    from veolab.analysis.probe import probe_video

__all__ = [
    "AnalysisResult",
    "Check",
    "CheckThresholds",
    "Expectations",
    "Metrics",
    "Probe",
    "Segment",
    "Thumbnail",
    "analyze_video",
    "probe_video",
]


def __getattr__(name: str) -> Any:
    if name == "analyze_video":
        from veolab.analysis.pipeline import analyze_video

        return analyze_video
    if name == "probe_video":
        from veolab.analysis.probe import probe_video

        return probe_video
    raise AttributeError(f"module 'veolab.analysis' has no attribute {name!r}")
