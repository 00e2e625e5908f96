"""MLflow tracking: the schema (names), the store wrapper, and how a generation is logged.

Importing it keeps MLflow's "View run ... at" lines out of veolab's output (``quiet``): every
MLflow client veolab makes is made after this import.
"""

from veolab.tracking.quiet import quiet_mlflow

quiet_mlflow()

from veolab.tracking.generation import GenerationRecord, log_failure, log_generation  # noqa: E402
from veolab.tracking.store import Tracker, default_tracking_uri, resolve_tracking_uri  # noqa: E402

__all__ = [
    "GenerationRecord",
    "Tracker",
    "default_tracking_uri",
    "log_failure",
    "log_generation",
    "resolve_tracking_uri",
]
