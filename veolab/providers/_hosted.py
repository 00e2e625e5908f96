"""What the providers of hosts reached with an API key (Segmind, fal.ai, Replicate) share: the
base URL, the key, one HTTP client and the account's limiter, made on first use.

    class FalProvider(HostedProvider[FalHTTP]):
        http_class = FalHTTP
        key_prefix = "Key "                       # the authorization header's scheme
        missing_key = "No fal.ai API key: set FAL_KEY ... or pass --api-key"

A subclass also says how its base URL is found (:meth:`HostedProvider.resolve_base_url`) and
may read its key from more than ``key_env_var`` (:meth:`HostedProvider.key_from_env`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from veolab.errors import MissingKeyError, ProviderError, ProviderHTTPError
from veolab.providers._http.client import HTTPClient
from veolab.providers._http.limiter import Limiter, account_limiter
from veolab.providers.base import Provider, ProviderConfig

H = TypeVar("H", bound=HTTPClient)


class HostedProvider(Provider, Generic[H]):
    """A paid host reached with an API key: base URL, key, HTTP client and limiter."""

    needs_key: ClassVar[bool] = True
    paid: ClassVar[bool] = True
    http_class: type[H]  # the host's client, set by each subclass
    key_header: ClassVar[str] = "authorization"
    key_prefix: ClassVar[str] = "Bearer "
    missing_key: ClassVar[str] = "No API key: pass --api-key"

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(config)
        self.base_url = self.resolve_base_url(self.config.base_url)
        self._transport = transport
        self._limiter = limiter
        self._http: H | None = None

    @classmethod
    def resolve_base_url(cls, configured: str | None) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def key_from_env(cls) -> str:
        return os.environ.get(cls.key_env_var or "", "")

    def _api_key(self) -> str:
        key = (self.config.api_key or self.key_from_env() or "").strip()
        if not key:
            raise MissingKeyError(self.missing_key)
        return key

    def check_ready(self) -> None:
        self._api_key()

    def key_origins(self) -> list[str]:
        """Where the key may be sent (every other host gets requests without it)."""
        return [self.base_url]

    def http(self) -> H:
        """The host's HTTP client (one per provider, made on first use)."""
        if self._http is None:
            self._http = self.http_class(
                self.config,
                self._api_key(),
                self.key_origins(),
                transport=self._transport,
                key_header=self.key_header,
                key_prefix=self.key_prefix,
            )
        return self._http

    @property
    def limiter(self) -> Limiter:
        """The limiter in use: given, else the one shared by this base URL, key and limits."""
        if self._limiter is None:
            self._limiter = account_limiter(self.base_url, self._api_key(), self.config)
        return self._limiter

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    @property
    def host_model(self) -> str:
        """The model's name on the host (``fal-ai/veo3.1/fast``, ``google/veo-3.1``)."""
        return self.capabilities[self.config.model].host_model


def cause_of(exc: ProviderError) -> str:
    """An error's class, and its status for an HTTP answer: ``ServerError 503``."""
    cause = type(exc).__name__
    if isinstance(exc, ProviderHTTPError):
        cause += f" {exc.status_code}"
    return cause


def describe_json(data: Any) -> str:
    """What a JSON answer was instead of what was expected, without its values."""
    if isinstance(data, dict):
        return "JSON with keys " + ", ".join(sorted(map(str, data))[:12])
    return "not a JSON object" if data is None else f"JSON {type(data).__name__}"
