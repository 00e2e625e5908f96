"""The ``replicate`` provider's settings: the common and HTTP ones, plus how long a submit waits
for the prediction (``Prefer: wait``) and how a prediction is polled after that."""

from __future__ import annotations

from pydantic import Field

from veolab.providers._http.config import HTTPConfig


class ReplicateConfig(HTTPConfig):
    """How to reach Replicate. Unknown fields are an error."""

    name: str = "replicate"
    #: seconds the create call asks Replicate to hold its answer until the prediction is done
    #: (``Prefer: wait=N``, 1-60); 0 (the default): answer at once, then poll. A held answer
    #: saves polls but names the prediction only when it comes: a crash meanwhile leaves a
    #: prediction that is billed and cannot be resumed by id (an "outcome unknown")
    wait: int = Field(default=0, ge=0, le=60)
    poll_interval: float = Field(default=2.0, gt=0)  # first poll after the wait (s), then x1.5
    poll_max_interval: float = Field(default=5.0, gt=0)
