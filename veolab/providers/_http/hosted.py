"""Requests to a host that queues jobs and names them (Replicate, fal.ai): submits, reads and
what a failure means once the host has accepted a job.

A host subclasses :class:`HostedHTTP` with its name, how its error answers read
(:meth:`HostedHTTP.error_for`) and which error answers to a submit prove that nothing was
created (:meth:`HostedHTTP.submit_retryable`). The rules every such host shares:

- A submit is retried on 429 (the host refused it), on a connection that never reached the
  host, and on an error answer the host documents as safe to repeat. Any other 5xx answer to a
  submit, and an answer lost on the way back, raise
  :class:`~veolab.errors.OutcomeUnknownError`: the job may exist and be billed, so it is never
  sent again blindly.
- Reads (status, result, the video) are retried on 429, 5xx and every transport failure.
  Once the host has accepted a job, a refusal (4xx but 429), a body over the cap or a redirect
  loop raises :class:`~veolab.errors.OutputNotObtainedError` with the job id: billed (or billed
  once it completes), fetched again by id on the next run.
- Nothing here puts the API key into a message (:func:`~veolab.providers._http.redact.scrub`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    InvalidOutputError,
    ModelNotFoundError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    ValidationRejectedError,
)
from veolab.providers._http.client import MAX_HOPS, REDIRECTS, HTTPClient, Reply
from veolab.providers._http.config import HTTPConfig
from veolab.providers._http.download import (
    ERROR_BODY_CAP,
    detached,
    over_cap,
    parse_json,
    read_capped,
)
from veolab.providers._http.redact import scrub
from veolab.providers._http.retry import transport_error, wait_hint, with_retries

__all__ = ["HostedHTTP", "error_text", "status_class"]

_MAX_TEXT = 240

#: what a GET of an accepted job reads, as the subject of a sentence
PARTS = {"status": "its status", "result": "its result", "download": "the video"}

_CLASSES: dict[int, tuple[type[ProviderHTTPError], str]] = {
    400: (BadRequestError, "bad request"),
    401: (AuthenticationError, "missing or invalid API key"),
    402: (InsufficientCreditsError, "insufficient credit"),
    403: (PermissionDeniedError, "forbidden"),
    404: (ModelNotFoundError, "not found"),
    406: (InsufficientCreditsError, "insufficient credit"),
    422: (ValidationRejectedError, "validation error"),
    429: (RateLimitError, "rate limited"),
}


def status_class(status: int) -> tuple[type[ProviderHTTPError], str]:
    """The error class and label of an HTTP error status (5xx: ServerError)."""
    if status >= 500:
        return ServerError, {502: "bad gateway", 503: "service unavailable"}.get(
            status, "gateway timeout" if status == 504 else "server error"
        )
    return _CLASSES.get(status, (ProviderHTTPError, "error"))


def _detail(value: Any) -> str:
    """A ``detail`` that is a string, or a list of ``{loc, msg, type}`` (fal, pydantic)."""
    if isinstance(value, list):
        parts = []
        for item in value[:5]:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc") or [] if p != "body"]
                msg = str(item.get("msg") or item.get("type") or item)
                parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(value, dict):
        return str(value.get("message") or value.get("msg") or json.dumps(value))
    return str(value)


def error_text(response: httpx.Response, secret: str | None = None) -> str:
    """The host's own words in an error answer: ``title``/``detail`` (Replicate's problem
    JSON), ``detail`` as text or a list (fal), ``error``/``message``, else the gist of an HTML
    or text body; one line, the key removed."""
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        raw = b""
    body = raw[:20000].decode("utf-8", "replace")
    data = parse_json(raw[:20000])
    if isinstance(data, dict):
        title = data.get("title")
        found = next(
            (data[k] for k in ("detail", "error", "message") if data.get(k) not in (None, "")),
            None,
        )
        text = _detail(found) if found is not None else ""
        if title and str(title) not in text:
            text = f"{title}: {text}" if text else str(title)
        text = text or json.dumps(data)[:_MAX_TEXT]
    elif data is not None:
        text = json.dumps(data)
    elif re.search(r"<\s*(html|head|body|title|h1|!doctype)", body, re.I):
        chosen = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S) or re.search(
            r"<h1[^>]*>(.*?)</h1>", body, re.I | re.S
        )
        text = "HTML page: " + html.unescape(
            chosen.group(1) if chosen else re.sub(r"<[^>]+>", " ", body)
        )
    else:
        text = body
    text = " ".join(text.split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return scrub(text, secret) or "(empty body)"


class HostedHTTP(HTTPClient):
    """The requests of one queued host, its key applied to its own origins only."""

    config: HTTPConfig

    #: the host's name in messages ("Replicate")
    host: ClassVar[str] = ""
    #: the setting to check when nothing connects ("REPLICATE_BASE_URL")
    base_setting: ClassVar[str] = "the base URL"
    #: advice per error status, in the host's words (the key's variable, the console, ...)
    advice: ClassVar[dict[int, str]] = {}
    #: the response header that names a job, where the host sends one
    id_header: ClassVar[str] = ""

    # -- what a host says ---------------------------------------------------------------------

    def error_for(
        self, response: httpx.Response, *, what: str, request_id: str | None = None
    ) -> ProviderHTTPError:
        """The typed error for an error answer to ``what`` ("submit to google/veo-3.1")."""
        status = response.status_code
        text = error_text(response, self._key)
        cls, label = status_class(status)
        wait = wait_hint(response.headers) if status in (429, 503) else None
        advice = self.advice.get(status) or self.advice.get(status // 100 * 100) or ""
        if status == 429 and wait is not None:
            advice = f"retry after {wait:.0f} s or lower submits_per_minute"
        message = f"{self.host} {what} failed: {status} {label}: {text}"
        if advice:
            message += f"; {advice}"
        rid = request_id or (response.headers.get(self.id_header) if self.id_header else None)
        return cls(scrub(message, self._key), status_code=status, request_id=rid, retry_after=wait)

    def submit_retryable(self, response: httpx.Response) -> bool:
        """Whether a 5xx answer to a submit proves that no job was created (so a retry cannot
        pay twice). Default: never."""
        return False

    # -- errors of an accepted job ------------------------------------------------------------

    def not_obtained(
        self, job: str | None, cause: str, *, completed: bool = True
    ) -> OutputNotObtainedError:
        """An accepted job whose output could not be obtained because of ``cause``."""
        state = "is billed" if completed else "was accepted (billed once it completes)"
        text = (
            f"{self.host} job {job} {state}, but {cause}; veolab keeps the job id and fetches it "
            "again on the next run"
        )
        return OutputNotObtainedError(scrub(text, self._key), request_id=job)

    def refusal(self, part: str, response: httpx.Response) -> str:
        """What an error status on ``part`` of an accepted job means, in the host's words."""
        status, text = response.status_code, error_text(response, self._key)
        if status == 410 or "expire" in text.lower() or "removed" in text.lower():
            verb = "has expired"
        elif status in (401, 402, 403, 406):
            verb = "was refused"
        elif status == 404:
            verb = "was not found"
        else:
            verb = "was rejected"
        return f"{PARTS.get(part, part)} {verb} ({status}: {text})"

    def _lost(self, exc: httpx.TransportError, **kw: Any) -> ProviderError:
        if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return ProviderConnectionError(
                f"{self.host} {kw.get('what', 'request')} failed: the server's TLS certificate is "
                "not trusted; for a server of your own (veolab sim serve --tls) set SSL_CERT_FILE "
                "to the bundle it prints",
                request_id=kw.get("request_id"),
            )
        return transport_error(exc, host=self.host, check=self.base_setting, **kw)

    # -- submits: never retried once they may have created a job ------------------------------

    async def submit(
        self,
        url: str,
        body: dict[str, Any],
        *,
        what: str,
        permit: Callable[[], Awaitable[float]],
        attempts: list[int],
        max_body: int,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Reply:
        """POST a billable submit; see the module's rules for what is retried."""

        async def once() -> Reply:
            await permit()
            sent = self.headers_for(url) | {"content-type": "application/json"} | (headers or {})
            extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
            try:
                async with self.client().stream(
                    "POST", url, json=body, headers=sent, **extra
                ) as resp:
                    if resp.status_code >= 400:
                        raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
                        answer = detached(resp, raw)
                        typed = self.error_for(answer, what=what)
                        if resp.status_code >= 500 and not self.submit_retryable(answer):
                            raise self._unknown_answer(what, answer, typed) from typed
                        raise typed
                    try:
                        raw = await read_capped(resp, max_body, f"the answer to the {what}")
                    except httpx.TransportError as exc:
                        raise self._lost(exc, what=what, sent_matters=True) from exc
                    except InvalidOutputError as exc:
                        raise OutcomeUnknownError(
                            f"{self.host} {what}: {exc}; the job may exist and be billed; do "
                            "not resubmit blindly",
                            details={"status": resp.status_code},
                        ) from exc
                    return Reply(resp, raw, url)
            except httpx.TransportError as exc:
                raise self._lost(exc, what=what, sent_matters=True) from exc

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    def _unknown_answer(
        self, what: str, answer: httpx.Response, typed: ProviderHTTPError
    ) -> OutcomeUnknownError:
        rid = answer.headers.get(self.id_header) if self.id_header else None
        return OutcomeUnknownError(
            scrub(
                f"{self.host} {what}: answered {answer.status_code} "
                f"({error_text(answer, self._key)}); the job may have been created and billed, "
                "so it is not sent again (--resubmit-unknown pays again)",
                self._key,
            ),
            request_id=rid,
            details={"status": answer.status_code, "error": type(typed).__name__},
        )

    # -- reads: retried on every transient failure --------------------------------------------

    async def get(
        self,
        url: str,
        *,
        what: str,
        max_body: int,
        attempts: list[int] | None = None,
        request_id: str | None = None,
        accepted: str | None = None,
        tolerate: Callable[[httpx.Response], bool] | None = None,
    ) -> Reply:
        """GET ``url``, following redirects one origin-checked hop at a time; the body is capped
        at ``max_body``. ``accepted`` names what this reads of the accepted job ``request_id``
        ("status", "result" or "download"): a refusal, an over-cap body or a redirect loop then
        raises OutputNotObtainedError. ``tolerate(response)`` returns an error answer instead
        of raising (a failed job's result, read for its reason). 429 and 5xx stay typed errors,
        retried here; the caller decides what their exhaustion means."""

        async def once() -> Reply:
            current = url
            for _ in range(MAX_HOPS + 1):
                try:
                    reply = await self._get_once(
                        current, what, max_body, request_id, accepted, tolerate
                    )
                except httpx.TransportError as exc:
                    raise self._lost(
                        exc, what=what, sent_matters=False, request_id=request_id
                    ) from exc
                if reply.location is None:
                    return reply
                current = reply.location
            if accepted:
                raise self.not_obtained(
                    request_id,
                    f"{PARTS[accepted]} redirected more than {MAX_HOPS} times",
                    completed=accepted != "status",
                )
            raise InvalidOutputError(
                f"{self.host} {what}: more than {MAX_HOPS} redirects", request_id=request_id
            )

        return await with_retries(once, config=self.config, what=what, attempts=attempts)

    async def _get_once(
        self,
        url: str,
        what: str,
        max_body: int,
        request_id: str | None,
        accepted: str | None,
        tolerate: Callable[[httpx.Response], bool] | None,
    ) -> Reply:
        async with self.client().stream("GET", url, headers=self.headers_for(url)) as resp:
            if resp.status_code in REDIRECTS:
                return Reply(resp, b"", url)
            if resp.status_code >= 400:
                raw = await read_capped(resp, ERROR_BODY_CAP, "the error body")
                answer = detached(resp, raw)
                if tolerate is not None and tolerate(answer):
                    return Reply(answer, raw, url)
                typed = self.error_for(answer, what=what, request_id=request_id)
                if accepted and resp.status_code < 500 and resp.status_code != 429:
                    raise self.not_obtained(
                        request_id,
                        self.refusal(accepted, answer),
                        completed=accepted != "status",
                    ) from typed
                raise typed
            try:
                raw = await read_capped(resp, max_body, what)
            except InvalidOutputError as exc:
                if accepted:
                    raise self.not_obtained(
                        request_id, over_cap(PARTS[accepted], exc), completed=accepted != "status"
                    ) from exc
                exc.request_id = exc.request_id or request_id
                raise
            return Reply(resp, raw, url)
