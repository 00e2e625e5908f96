"""The ``vertex`` provider's settings: the common and HTTP ones, plus the Google Cloud project
and location, Vertex's own output options and how operations are polled (see docs/hosts.md).

``sample_count``, ``enhance_prompt`` and ``person_generation`` change what comes back, so they
are logged with every run (:meth:`~veolab.providers.vertex.VertexProvider.output_params`);
``sample_count > 1`` and ``enhance_prompt`` also make the seed meaningless.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from veolab.providers._http.config import HTTPConfig


class VertexConfig(HTTPConfig):
    """How to reach Vertex AI. Unknown fields are an error."""

    name: str = "vertex"
    #: the Google Cloud project (default $GOOGLE_CLOUD_PROJECT, else the credentials' project)
    project: str | None = None
    #: the region (default $GOOGLE_CLOUD_LOCATION, else us-central1)
    location: str | None = None
    #: videos per request (Vertex: 1 to 4); veolab keeps the first, the host bills each
    sample_count: int = Field(default=1, ge=1, le=4)
    #: let Vertex rewrite the prompt (an LLM "prompt enhancer"): off unless asked
    enhance_prompt: bool = False
    #: Vertex's personGeneration; None: the host's default
    person_generation: Literal["allow_adult", "dont_allow", "allow_all"] | None = None
    #: gs://bucket/prefix/ where Vertex writes the videos (None: they come back inline)
    storage_uri: str | None = None
    #: where gs:// objects are read (default Cloud Storage's JSON API, or the base URL when that
    #: is not Google's, as with the simulator)
    storage_base_url: str | None = None
    # Vertex's documented quota for Veo: 10 requests a minute per project and model
    submits_per_minute: float | None = Field(default=10.0, gt=0)
    poll_interval: float = Field(default=5.0, gt=0)  # first fetchPredictOperation (s), then x1.5
    poll_max_interval: float = Field(default=15.0, gt=0)

    @field_validator("storage_uri")
    @classmethod
    def _gs_uri(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("gs://"):
            raise ValueError(f"must be a gs://bucket/prefix/ URI (got {v!r})")
        return v
