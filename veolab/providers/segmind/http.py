"""What a Segmind HTTP response means: typed errors, kept headers, retry delays.

Every error status becomes one :mod:`veolab.errors` class with a one-line message that quotes
Segmind's own ``{"error": ...}`` text (or the gist of an HTML / plain-text body) and says what
to do. Nothing here ever puts the API key into a message: :func:`scrub` removes it from any
text that came from the network.

Once the host has accepted a job (a v2 submit named it, or a v1 call answered 200), a failure
to get its output is no longer about the request or the key: :func:`not_obtained` words it as
"billed, but ..." (:class:`~veolab.errors.OutputNotObtainedError`, with the job id).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    ModelNotFoundError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    ValidationRejectedError,
)
from veolab.providers._http.download import detached, parse_json
from veolab.providers._http.redact import redact_json, redact_url, scrub
from veolab.providers._http.retry import wait_hint
from veolab.providers.segmind.output import describe_json

__all__ = [  # redact_json, redact_url and scrub: shared, from veolab.providers._http.redact
    "describe_answer",
    "error_for",
    "error_text",
    "kept_headers",
    "not_obtained",
    "redact_json",
    "redact_url",
    "refusal",
    "retry_after",
    "scrub",
]

#: response headers kept in a result's metadata (lower case)
KEPT_HEADERS = (
    "x-remaining-credits",
    "x-cost",
    "x-seed-value",
    "x-request-id",
    "x-generation-time",
    "x-rate-limit-remaining",
    "x-rate-limit-limit",
    "x-rate-limit-reset-at-utc",
    "retry-after",
    "content-type",
    "content-length",
)
_MAX_TEXT = 200


def kept_headers(headers: httpx.Headers, secret: str | None = None) -> dict[str, str]:
    return {k: scrub(headers[k], secret) for k in KEPT_HEADERS if k in headers}


def header_float(headers: httpx.Headers, name: str) -> float | None:
    try:
        return float(headers[name]) if name in headers else None
    except ValueError:
        return None


def header_int(headers: httpx.Headers, name: str) -> int | None:
    value = header_float(headers, name)
    return int(value) if value is not None and value == int(value) else None


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """How long Segmind asks us to wait: ``Retry-After``, else ``x-rate-limit-reset-at-utc``."""
    return wait_hint(headers, ("retry-after", "x-rate-limit-reset-at-utc"), now)


def error_text(response: httpx.Response, secret: str | None = None) -> str:
    """Segmind's own words: ``{"error": ...}``, else the gist of an HTML or text body."""
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        raw = b""
    body = raw[:20000].decode("utf-8", "replace")
    text = ""
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "error_description"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or json.dumps(value)
            if value:
                text = str(value)
                break
        else:
            text = json.dumps(data)[:_MAX_TEXT]
    elif data is not None:
        text = json.dumps(data)
    elif "<" in body and re.search(r"<\s*(html|head|body|title|h1|!doctype)", body, re.I):
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.I | re.S)
        chosen = title or heading
        raw_text = chosen.group(1) if chosen else re.sub(r"<[^>]+>", " ", body)
        text = "HTML page: " + html.unescape(raw_text)
    else:
        text = body
    text = " ".join(text.split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return scrub(text, secret) or "(empty body)"


_ADVICE = {
    400: (BadRequestError, "bad request", "fix the parameter it names"),
    401: (
        AuthenticationError,
        "missing or invalid API key",
        "check SEGMIND_API_KEY (or --api-key) at segmind.com > API keys",
    ),
    403: (
        PermissionDeniedError,
        "forbidden",
        "this key may not use the model; check the account's model access",
    ),
    404: (
        ModelNotFoundError,
        "model not found",
        "use --model veo-3.1 or veo-3.1-fast, and check SEGMIND_BASE_URL",
    ),
    402: (
        InsufficientCreditsError,
        "insufficient credits",
        "top up the Segmind account or lower the budget",
    ),
    406: (
        InsufficientCreditsError,
        "insufficient credits",
        "top up the Segmind account or lower the budget",
    ),
    422: (
        ValidationRejectedError,
        "validation error",
        "fix the parameter it names (see docs/hosts.md)",
    ),
    429: (
        RateLimitError,
        "rate limited",
        "wait for the reset or lower submits_per_minute",
    ),
    500: (
        ServerError,
        "server error",
        "try again later; if it follows a parameter change, suspect that parameter",
    ),
    502: (ServerError, "bad gateway", "try again in a minute"),
    503: (ServerError, "service unavailable", "try again in a minute"),
    504: (ServerError, "gateway timeout", "try again; prefer --mode queue for long jobs"),
}


def error_for(
    response: httpx.Response,
    *,
    what: str,
    secret: str | None = None,
    request_id: str | None = None,
) -> ProviderHTTPError:
    """The typed error for an error ``response`` to ``what`` (e.g. "submit to veo-3.1")."""
    status = response.status_code
    text = error_text(response, secret)
    request_id = request_id or response.headers.get("x-request-id")
    fallback = (ServerError if status >= 500 else ProviderHTTPError, "error", "see docs/hosts.md")
    cls, label, advice = _ADVICE.get(status, fallback)
    if status == 406 and "content" in text.lower() and "type" in text.lower():
        cls, label, advice = BadRequestError, "not acceptable", "a veolab bug: please report it"
    wait = retry_after(response.headers) if status in (429, 503) else None
    if status == 429 and wait is not None:
        advice = f"retry after {wait:.0f} s or lower submits_per_minute"
    message = f"Segmind {what} failed: {status} {label}: {text}; {advice}"
    return cls(scrub(message, secret), status_code=status, request_id=request_id, retry_after=wait)


#: what a GET after acceptance reads, as the subject of a sentence
PARTS = {
    "status": "its status",
    "result": "its result",
    "download": "the download URL",
    "answer": "its answer",
}
FETCH_AGAIN = "veolab keeps the job id and fetches it again on the next run"


def not_obtained(
    job: str | None, cause: str, *, completed: bool = True, secret: str | None = None
) -> OutputNotObtainedError:
    """The error for an accepted job whose output could not be obtained because of ``cause``.

    ``completed``: the job is known to be done (billed); else it was accepted and is billed
    once it completes. Without a job id (a v1 answer without ``x-request-id``) nothing can be
    fetched again, and the message says so.
    """
    if job:
        state = "is billed" if completed else "was accepted (billed once it completes)"
        text = f"Segmind job {job} {state}, but {cause}; {FETCH_AGAIN}"
    else:
        text = (
            f"Segmind answered the sync call with success (billed), but {cause}; it named no "
            "job id (x-request-id), so veolab cannot fetch the output again"
        )
    return OutputNotObtainedError(scrub(text, secret), request_id=job or None)


def refusal(part: str, response: httpx.Response, secret: str | None = None) -> str:
    """What an error status on ``part`` of an accepted job means, in the host's own words."""
    status = response.status_code
    text = error_text(response, secret)
    subject = PARTS.get(part, part)
    if "expire" in text.lower():
        verb = "has expired"
    elif status in (401, 402, 403, 406):
        verb = "was refused"
    elif status == 404:
        verb = "was not found"
    else:
        verb = "was rejected"
    cause = f"{subject} {verb} ({status}: {text})"
    if status == 404 and part != "download":
        cause += "; Segmind keeps results about an hour, or the id is wrong"
    return cause


def describe_answer(response: httpx.Response, body: bytes, secret: str | None = None) -> str:
    """A short description of an answer that was not what was expected (for messages)."""
    data = parse_json(body)
    if data is not None:
        return describe_json(data)
    if not body.strip():
        return "an empty body"
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    gist = error_text(detached(response, body), secret)
    if gist.startswith("HTML page: "):
        return f"an HTML page ({gist.removeprefix('HTML page: ')})"
    return f"{f'a {ctype}' if ctype else 'an untyped'} body of {len(body)} bytes"


def json_body(response: httpx.Response) -> Any:
    """The JSON of a response, or None if it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
