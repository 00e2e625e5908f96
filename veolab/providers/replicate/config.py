"""The ``replicate`` provider's settings: the common and HTTP ones, plus how long a submit waits
for the prediction (``Prefer: wait``) and how a prediction is polled after that."""

from __future__ import annotations

from pydantic import Field

from veolab.providers._http.config import HTTPConfig


class ReplicateConfig(HTTPConfig):
    """How to reach Replicate. Unknown fields are an error."""

    name: str = "replicate"
    #: seconds the create call asks Replicate to hold the answer until the prediction is done
    #: (``Prefer: wait=N``, 1-60); 0: answer at once and poll
    wait: int = Field(default=60, ge=0, le=60)
    poll_interval: float = Field(default=2.0, gt=0)  # first poll after the wait (s), then x1.5
    poll_max_interval: float = Field(default=5.0, gt=0)
