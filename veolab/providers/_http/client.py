"""One injected httpx client per event loop, with the key sent only where it belongs.

- The transport is injected (tests pass ``httpx.MockTransport(handler)``), the timeouts come
  from the provider's config, and a new event loop gets a new connection pool.
- The API key travels only to the host's own origins (its API and storage URLs), never to a
  download host and never across a redirect to another origin: httpx would keep a custom key
  header on a cross-origin redirect, so the client does not follow redirects and a host's
  requests follow them here, one hop at a time (:data:`REDIRECTS`, :data:`MAX_HOPS`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from veolab import __version__
from veolab.providers._http.download import parse_json
from veolab.providers.base import ProviderConfig

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 5


@dataclass
class Reply:
    """A fully read response: status, headers, body bytes, and the URL that answered."""

    response: httpx.Response
    body: bytes
    url: str

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def location(self) -> str | None:
        if self.response.status_code in REDIRECTS and "location" in self.response.headers:
            return urljoin(self.url, self.response.headers["location"])
        return None

    def json(self) -> Any:
        return parse_json(self.body)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the port made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class HTTPClient:
    """The httpx client of a provider: ``key_header: key_prefix + api_key`` on requests to
    ``key_origins`` only. A host subclasses it with its own requests and error mapping."""

    accept = "application/json, video/mp4;q=0.9, */*;q=0.5"

    def __init__(
        self,
        config: ProviderConfig,
        api_key: str,
        key_origins: list[str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        key_header: str = "x-api-key",
        key_prefix: str = "",
    ) -> None:
        self.config = config
        self._key = api_key
        self._key_origins = {origin(u) for u in key_origins}
        self._key_header = key_header
        self._key_prefix = key_prefix
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        """The httpx client of the running event loop (a new loop gets a new pool)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(
                    self.config.read_timeout,
                    connect=self.config.connect_timeout,
                    pool=self.config.read_timeout,
                ),
                follow_redirects=False,
                headers={"user-agent": f"veolab/{__version__}"},
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    def headers_for(self, url: str) -> dict[str, str]:
        """The headers of a request to ``url``: the key only for the host's own origins."""
        headers = {"accept": self.accept}
        if origin(url) in self._key_origins:
            headers[self._key_header] = self._key_prefix + self._key
        return headers
