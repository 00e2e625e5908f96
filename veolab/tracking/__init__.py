"""MLflow tracking: the schema (names), the store wrapper, and how a generation is logged.

The names below load on first use: importing ``veolab.tracking.store`` (what ``runs``,
``compare``, ``plan`` and ``rate`` need) does not import ``generation`` and, through it, the
providers and httpx (about half a second).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veolab.tracking.generation import GenerationRecord, log_failure, log_generation
    from veolab.tracking.store import Tracker, default_tracking_uri, resolve_tracking_uri

_HOME = {
    "GenerationRecord": "veolab.tracking.generation",
    "log_failure": "veolab.tracking.generation",
    "log_generation": "veolab.tracking.generation",
    "Tracker": "veolab.tracking.store",
    "default_tracking_uri": "veolab.tracking.store",
    "resolve_tracking_uri": "veolab.tracking.store",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'veolab.tracking' has no attribute {name!r}")


__all__ = [
    "GenerationRecord",
    "Tracker",
    "default_tracking_uri",
    "log_failure",
    "log_generation",
    "resolve_tracking_uri",
]
