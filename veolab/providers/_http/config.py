"""The settings every HTTP host shares: retries, the submit rate and the download cap."""

from __future__ import annotations

from pydantic import Field

from veolab.providers.base import ProviderConfig


class HTTPConfig(ProviderConfig):
    """A provider that talks HTTP: :class:`ProviderConfig` plus the retry policy, the client-side
    submit rate and the size cap on any body. A host's config class subclasses it."""

    max_retries: int = Field(default=4, ge=0)
    # seconds: first retry delay (doubling), and the longest wait a retry may take; a 429
    # asking for longer than retry_max_wait fails at once with its retry_after
    retry_backoff: float = Field(default=1.0, ge=0)
    retry_max_wait: float = Field(default=60.0, ge=0)
    submits_per_minute: float | None = Field(default=None, gt=0)
    max_download_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
