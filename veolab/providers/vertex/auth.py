"""Where the Vertex provider's bearer token comes from, and the project it bills.

In order: the config's ``api_key`` (``--api-key``), a ready access token in
``$VEOLAB_VERTEX_TOKEN`` or ``$GOOGLE_OAUTH_ACCESS_TOKEN`` (``gcloud auth print-access-token``
prints one; it lasts an hour), else Google's application default credentials through
``google-auth`` (``pip install 'veolab[vertex]'``; ``gcloud auth application-default login``,
a key file in ``$GOOGLE_APPLICATION_CREDENTIALS``, or the metadata server on Google Cloud),
imported only then and refreshed off the event loop when they expire. Neither: one
MissingKeyError naming both ways. The token is never logged: messages and metadata are
scrubbed of it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from veolab.errors import ConfigError, MissingKeyError, ProviderConnectionError

TOKEN_ENVS = ("VEOLAB_VERTEX_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
DEFAULT_LOCATION = "us-central1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
HOW = (
    f"set {TOKEN_ENVS[0]} to an access token (gcloud auth print-access-token) or set up "
    "application default credentials (gcloud auth application-default login, or "
    "GOOGLE_APPLICATION_CREDENTIALS=<key file>)"
)


def static_token(given: str | None) -> str | None:
    """The token given or in the environment, if any (no credentials are looked up)."""
    for value in (given, *(os.environ.get(name) for name in TOKEN_ENVS)):
        if value and value.strip():
            return value.strip()
    return None


class Credentials:
    """A bearer token for Vertex: a static one, or application default credentials."""

    def __init__(self, given: str | None) -> None:
        self._static = static_token(given)
        self._adc: Any = None  # google.auth credentials
        self.adc_project: str | None = None

    @property
    def source(self) -> str:
        """Where the token comes from (for metadata): "token" or "adc"."""
        return "token" if self._static else "adc"

    def check(self) -> None:
        """Fail now (MissingKeyError) when there is no token and no default credentials."""
        if self._static is None and self._adc is None:
            self._load_adc()

    def _load_adc(self) -> None:
        try:
            import google.auth
            import google.auth.exceptions
        except ImportError:
            raise MissingKeyError(
                f"No Vertex AI credentials: {HOW}; default credentials need google-auth "
                "(pip install 'veolab[vertex]')"
            ) from None
        try:
            self._adc, self.adc_project = google.auth.default(scopes=[SCOPE])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise MissingKeyError(f"No Vertex AI credentials: {HOW}") from exc

    async def token(self) -> str:
        """The current token (default credentials refreshed, in a thread, when expired)."""
        if self._static is not None:
            return self._static
        self.check()
        creds = self._adc
        if not creds.valid:
            await asyncio.to_thread(_refresh, creds)
        return str(creds.token)

    def current(self) -> str | None:
        """The token last handed out (to scrub it from text), without refreshing."""
        if self._static is not None:
            return self._static
        return getattr(self._adc, "token", None)


def _refresh(creds: Any) -> None:
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        creds.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.TransportError as exc:
        raise ProviderConnectionError(
            f"Vertex AI default credentials could not be refreshed: the token endpoint did "
            f"not answer ({type(exc).__name__}); check the network"
        ) from exc
    except google.auth.exceptions.GoogleAuthError as exc:
        raise MissingKeyError(
            f"Vertex AI default credentials could not be refreshed ({type(exc).__name__}); {HOW}"
        ) from exc


def project_and_location(
    project: str | None, location: str | None, creds: Credentials | None = None
) -> tuple[str, str]:
    """The project (config, $GOOGLE_CLOUD_PROJECT, the credentials') and the location
    (config, $GOOGLE_CLOUD_LOCATION, us-central1)."""
    chosen = (
        project
        or os.environ.get(PROJECT_ENV)
        or (creds.adc_project if creds is not None else None)
        or ""
    ).strip()
    if not chosen:
        raise ConfigError(
            f"no Google Cloud project for vertex: set {PROJECT_ENV} or the provider's project:"
        )
    where = (location or os.environ.get(LOCATION_ENV) or DEFAULT_LOCATION).strip()
    return chosen, where
