"""Vertex AI's requests over the shared HTTP client: the submit, operation reads, downloads.

The client, token scoping, retries and capped reads are the shared ones
(:mod:`veolab.providers._http`); what is Vertex's is here (its "API errors" page and Google's
AIP-194 say what may be retried):

- ``predictLongRunning`` starts a billed operation, so it is retried only where no operation
  can have started: 429 RESOURCE_EXHAUSTED (Vertex: retry with truncated exponential backoff),
  503 UNAVAILABLE and a connection that never opened. A 500 is reported as it is (not
  retried); a 502 or 504 from Google's front end, or an answer lost once the request was
  sent, means the operation may exist: OutcomeUnknownError, never a blind second submit.
- ``fetchPredictOperation`` only reads (a POST by its shape): retried on every transient
  failure, like the downloads of gs:// outputs.
- The bearer token goes only to the Vertex endpoint and the storage endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from veolab.errors import InvalidOutputError, OutcomeUnknownError, ProviderError
from veolab.providers._http.client import MAX_HOPS, REDIRECTS, HTTPClient, Reply
from veolab.providers._http.download import ERROR_BODY_CAP, read_capped
from veolab.providers._http.retry import transport_error, with_retries
from veolab.providers.vertex.config import VertexConfig
from veolab.providers.vertex.http import error_for

__all__ = ["VertexHTTP"]

#: 5xx statuses after which a submit is certainly not running: retried
SUBMIT_RETRIED = (503,)
#: 5xx statuses from Google's front end after which the operation may have started
SUBMIT_UNKNOWN = (502, 504)


def _lost(exc: httpx.TransportError, **kw: Any) -> ProviderError:
    return transport_error(exc, host="Vertex AI", check="VEOLAB_VERTEX_BASE_URL", **kw)


class VertexHTTP(HTTPClient):
    """Requests to Vertex AI with the bearer token, the limits and the retry policy applied."""

    config: VertexConfig

    def __init__(self, config: VertexConfig, key_origins: list[str], **kw: Any) -> None:
        super().__init__(
            config, "", key_origins, key_header="authorization", key_prefix="Bearer ", **kw
        )

    def set_token(self, token: str) -> None:
        """The bearer token of the next requests (default credentials are refreshed)."""
        self._key = token

    @property
    def token(self) -> str:
        return self._key

    async def submit(
        self,
        url: str,
        body: dict[str, Any],
        *,
        what: str,
        permit: Callable[[], Awaitable[float]],
        attempts: list[int],
        max_body: int,
    ) -> Reply:
        """POST ``predictLongRunning``; its answer names the operation."""

        async def once() -> Reply:
            await permit()
            headers = self.headers_for(url) | {"content-type": "application/json"}
            try:
                async with self.client().stream("POST", url, json=body, headers=headers) as resp:
                    if resp.status_code >= 400:
                        raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
                        err = error_for(resp, raw, what=what, secret=self._key)
                        if resp.status_code in SUBMIT_UNKNOWN:
                            raise OutcomeUnknownError(
                                f"{err}; the operation may have started and may be billed: "
                                "not resubmitted blindly",
                                details={"status": resp.status_code},
                            ) from err
                        raise err
                    try:
                        raw = await read_capped(resp, max_body, f"the answer to the {what}")
                    except httpx.TransportError as exc:
                        raise OutcomeUnknownError(
                            f"Vertex AI {what}: answered {resp.status_code} but the body was "
                            f"cut off ({type(exc).__name__}); the operation may exist and be "
                            "billed; do not resubmit blindly",
                            details={"status": resp.status_code},
                        ) from exc
                    return Reply(resp, raw, url)
            except httpx.TransportError as exc:
                raise _lost(exc, what=what, sent_matters=True) from exc

        return await with_retries(
            once, config=self.config, what=what, attempts=attempts, statuses=SUBMIT_RETRIED
        )

    async def read(
        self,
        url: str,
        body: dict[str, Any],
        *,
        what: str,
        max_body: int,
        attempts: list[int],
        operation: str,
    ) -> Reply:
        """POST ``fetchPredictOperation`` (a read: retried on every transient failure)."""

        async def once() -> Reply:
            headers = self.headers_for(url) | {"content-type": "application/json"}
            try:
                async with self.client().stream("POST", url, json=body, headers=headers) as resp:
                    return await self._answer(resp, url, what, max_body, operation)
            except httpx.TransportError as exc:
                raise _lost(exc, what=what, sent_matters=False, request_id=operation) from exc

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    async def download(
        self, url: str, *, what: str, max_body: int, attempts: list[int], operation: str
    ) -> Reply:
        """GET ``url`` (a gs:// object through the storage API), following redirects safely."""

        async def once() -> Reply:
            current = url
            for _ in range(MAX_HOPS + 1):
                try:
                    async with self.client().stream(
                        "GET", current, headers=self.headers_for(current)
                    ) as resp:
                        if resp.status_code in REDIRECTS:
                            reply = Reply(resp, b"", current)
                        else:
                            return await self._answer(resp, current, what, max_body, operation)
                except httpx.TransportError as exc:
                    raise _lost(exc, what=what, sent_matters=False, request_id=operation) from exc
                current = reply.location or current
            raise InvalidOutputError(
                f"Vertex AI {what}: more than {MAX_HOPS} redirects", request_id=operation
            )

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    async def _answer(
        self, resp: httpx.Response, url: str, what: str, max_body: int, operation: str
    ) -> Reply:
        if resp.status_code >= 400:
            raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
            err = error_for(resp, raw, what=what, secret=self._key)
            err.request_id = operation
            raise err
        raw = await read_capped(resp, max_body, what)
        return Reply(resp, raw, url)
