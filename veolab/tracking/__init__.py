"""MLflow tracking: the schema (names), the store wrapper, and how a generation is logged."""

from veolab.tracking.generation import GenerationRecord, log_failure, log_generation
from veolab.tracking.store import Tracker, default_tracking_uri, resolve_tracking_uri

__all__ = [
    "GenerationRecord",
    "Tracker",
    "default_tracking_uri",
    "log_failure",
    "log_generation",
    "resolve_tracking_uri",
]
