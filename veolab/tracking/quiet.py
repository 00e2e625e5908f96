"""Keep MLflow's own prints out of veolab's output.

    quiet_mlflow()      # Tracker() calls it before it makes its MLflow client

Against an HTTP tracking server, ``MlflowClient.set_terminated`` writes two lines to stdout for
every run it ends ("🏃 View run <name> at: <url>" and "🧪 View experiment at: <url>", MLflow's
``TrackingServiceClient._log_url``): 18 lines for an 8-run sweep, burying veolab's summary, and
one more ``get_run`` request each. MLflow skips them when ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``
is true; veolab sets it unless the user has set it (``false`` brings the lines back).
"""

from __future__ import annotations

import os

SUPPRESS_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


def quiet_mlflow() -> None:
    """Silence MLflow's "View run ... at" lines for this process (the user's setting wins)."""
    os.environ.setdefault(SUPPRESS_URLS, "true")


__all__ = ["SUPPRESS_URLS", "quiet_mlflow"]
