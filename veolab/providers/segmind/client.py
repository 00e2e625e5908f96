"""Segmind's requests over the shared HTTP client: submits, reads, uploads.

The client, key scoping, retries and capped reads are the shared ones
(:mod:`veolab.providers._http`); what is Segmind's is here:

- Submits go through the shared limiter and are never retried once they may have been sent;
  GETs are retried on every transient failure (see :mod:`veolab.providers._http.retry`).
- Error statuses become typed errors from Segmind's own bodies (:mod:`.http`).
- Once the host has accepted a job, a GET of its status, result or file that the host refuses
  (4xx), that is over the size cap or that redirects in circles raises
  :class:`~veolab.errors.OutputNotObtainedError` with the job id (``accepted=``), not an error
  about the request or the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from veolab.errors import InvalidOutputError, OutcomeUnknownError, ProviderError
from veolab.providers._http.client import MAX_HOPS, REDIRECTS, HTTPClient, Reply
from veolab.providers._http.download import (
    ERROR_BODY_CAP,
    detached,
    over_cap,
    parse_json,
    read_capped,
)
from veolab.providers._http.retry import transport_error, with_retries
from veolab.providers.segmind.config import SegmindConfig
from veolab.providers.segmind.http import (
    PARTS,
    error_for,
    kept_headers,
    not_obtained,
    refusal,
)

__all__ = ["Reply", "SegmindHTTP"]


def _lost(exc: httpx.TransportError, **kw: Any) -> ProviderError:
    return transport_error(exc, host="Segmind", check="SEGMIND_BASE_URL", **kw)


class SegmindHTTP(HTTPClient):
    """Requests to Segmind with the key, the limits and the retry policy applied."""

    config: SegmindConfig

    # -- submits: never retried once they may have reached the host -------------------------

    async def submit(
        self,
        url: str,
        body: dict[str, Any],
        *,
        what: str,
        permit: Callable[[], Awaitable[float]],
        attempts: list[int],
        max_body: int,
        billed_answer: bool = False,
    ) -> Reply:
        """POST a billable submit; a lost answer raises OutcomeUnknownError.

        ``billed_answer`` (v1): a success status means the job is done and billed, so a body
        that breaks off or is over ``max_body`` raises OutputNotObtainedError instead.
        """

        async def once() -> Reply:
            await permit()
            headers = self.headers_for(url) | {"content-type": "application/json"}
            try:
                async with self.client().stream("POST", url, json=body, headers=headers) as resp:
                    if resp.status_code >= 400:
                        raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
                        raise error_for(detached(resp, raw), what=what, secret=self._key)
                    try:
                        raw = await read_capped(resp, max_body, f"the answer to the {what}")
                    except httpx.TransportError as exc:
                        rid = resp.headers.get("x-request-id")
                        if billed_answer:
                            raise not_obtained(
                                rid,
                                f"its answer was cut off ({type(exc).__name__})",
                                secret=self._key,
                            ) from exc
                        raise OutcomeUnknownError(
                            f"Segmind {what}: answered {resp.status_code} but the body was cut "
                            f"off ({type(exc).__name__}); the job may be billed; do not resubmit "
                            "blindly",
                            request_id=rid,
                            details={
                                "status": resp.status_code,
                                "headers": kept_headers(resp.headers, self._key),
                            },
                        ) from exc
                    except InvalidOutputError as exc:
                        rid = resp.headers.get("x-request-id")
                        if billed_answer:
                            raise not_obtained(rid, over_cap("the video", exc)) from exc
                        exc.request_id = exc.request_id or rid
                        raise
                    return Reply(resp, raw, url)
            except httpx.TransportError as exc:
                raise _lost(exc, what=what, sent_matters=True) from exc

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    # -- reads: retried on every transient failure -------------------------------------------

    async def get(
        self,
        url: str,
        *,
        what: str,
        max_body: int,
        attempts: list[int] | None = None,
        request_id: str | None = None,
        tolerate_failed: bool = False,
        accepted: str | None = None,
    ) -> Reply:
        """GET ``url`` following redirects safely; the body is capped at ``max_body`` bytes.

        ``tolerate_failed`` returns a 4xx whose JSON says ``"status": "FAILED"`` (Segmind
        serves a failed job's status under 422) instead of raising. ``accepted`` names what
        this GET reads of the accepted job ``request_id`` (``"status"``, ``"result"`` or
        ``"download"``): a refusal (4xx but 429), an over-cap body or a redirect loop then
        raises OutputNotObtainedError. 429 and 5xx stay typed errors, retried here; the
        caller decides what their exhaustion means.
        """

        async def once() -> Reply:
            current = url
            for _ in range(MAX_HOPS + 1):
                try:
                    reply = await self._get_once(
                        current, what, max_body, tolerate_failed, request_id, accepted
                    )
                except httpx.TransportError as exc:
                    raise _lost(exc, what=what, sent_matters=False, request_id=request_id) from exc
                if reply.location is None:
                    return reply
                current = reply.location
            if accepted:
                raise not_obtained(
                    request_id,
                    f"{PARTS[accepted]} redirected more than {MAX_HOPS} times",
                    completed=accepted != "status",
                )
            raise InvalidOutputError(
                f"Segmind {what}: more than {MAX_HOPS} redirects", request_id=request_id
            )

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    async def _get_once(
        self,
        url: str,
        what: str,
        max_body: int,
        tolerate_failed: bool,
        request_id: str | None,
        accepted: str | None,
    ) -> Reply:
        async with self.client().stream("GET", url, headers=self.headers_for(url)) as resp:
            if resp.status_code in REDIRECTS:
                return Reply(resp, b"", url)
            if resp.status_code >= 400:
                raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
                data = parse_json(raw)
                if (
                    tolerate_failed
                    and isinstance(data, dict)
                    and str(data.get("status", "")).upper() == "FAILED"
                ):
                    return Reply(resp, raw, url)
                answer = detached(resp, raw)
                typed = error_for(answer, what=what, secret=self._key, request_id=request_id)
                if accepted and resp.status_code < 500 and resp.status_code != 429:
                    raise not_obtained(
                        request_id,
                        refusal(accepted, answer, self._key),
                        completed=accepted != "status",
                        secret=self._key,
                    ) from typed
                raise typed
            try:
                raw = await read_capped(resp, max_body, what)
            except InvalidOutputError as exc:
                if accepted:
                    noun = "the video" if accepted == "download" else PARTS[accepted]
                    raise not_obtained(
                        request_id, over_cap(noun, exc), completed=accepted != "status"
                    ) from exc
                exc.request_id = exc.request_id or request_id
                raise
            return Reply(resp, raw, url)

    async def post_idempotent(self, url: str, body: dict[str, Any], *, what: str) -> Reply:
        """A POST that may safely be repeated (an asset upload): retried like a GET."""

        async def once() -> Reply:
            headers = self.headers_for(url) | {"content-type": "application/json"}
            try:
                resp = await self.client().post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                raise _lost(exc, what=what, sent_matters=False) from exc
            if resp.status_code >= 300:
                raise error_for(resp, what=what, secret=self._key)
            return Reply(resp, resp.content, url)

        return await with_retries(once, config=self.config, what=what)
