"""What a Vertex AI HTTP answer means: typed errors from Google's error bodies.

Google answers an error as ``{"error": {"code": 429, "message": "...", "status":
"RESOURCE_EXHAUSTED", "details": [...]}}`` (Vertex AI's "API errors" page lists the codes and
what to do). Each status becomes one :mod:`veolab.errors` class with a one-line message that
quotes Google's own text and says what to do; the token is scrubbed from any text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from veolab.errors import (
    AuthenticationError,
    BadRequestError,
    ModelNotFoundError,
    OutputNotObtainedError,
    PermissionDeniedError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
)
from veolab.providers._http.download import parse_json
from veolab.providers._http.redact import scrub
from veolab.providers._http.retry import wait_hint

_MAX_TEXT = 240
CHECK_AUTH = (
    "check VEOLAB_VERTEX_TOKEN (an access token lasts an hour) or the application default "
    "credentials"
)

_ADVICE: dict[int, tuple[type[ProviderHTTPError], str]] = {
    400: (BadRequestError, "fix the parameter it names (see docs/hosts.md, Vertex AI)"),
    401: (AuthenticationError, CHECK_AUTH),
    403: (
        PermissionDeniedError,
        "enable the Vertex AI API for the project and give the account the Vertex AI User role",
    ),
    404: (
        ModelNotFoundError,
        "check the model, GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION (the model may not be "
        "served in that region)",
    ),
    429: (RateLimitError, "wait and retry, lower submits_per_minute, or ask Google for more quota"),
    500: (ServerError, "try again in a minute"),
    502: (ServerError, "try again in a minute"),
    503: (ServerError, "try again in a minute"),
    504: (ServerError, "try again; the host did not answer in time"),
}


def google_error(data: Any) -> tuple[str, str]:
    """(status name, message) of a Google error body, else ("", "")."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("status") or ""), str(error.get("message") or "")
    return "", ""


def retry_delay(data: Any) -> float | None:
    """The ``google.rpc.RetryInfo`` delay of an error body ("30s"), if any."""
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        m = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(delay or ""))
        if m:
            return float(m.group(1))
    return None


def error_text(body: bytes, secret: str | None) -> str:
    """Google's own words for an error answer (or the gist of whatever else came back)."""
    data = parse_json(body)
    status, message = google_error(data)
    if message:
        text = f"{status}: {message}" if status else message
    elif data is not None:
        text = json.dumps(data)
    else:
        text = body[:2000].decode("utf-8", "replace")
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        text = f"HTML page: {title.group(1)}" if title else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return scrub(text, secret) or "(empty body)"


def error_for(
    response: httpx.Response, body: bytes, *, what: str, secret: str | None
) -> ProviderHTTPError:
    """The typed error for an error answer to ``what`` ("submit to veo-3.1-generate-001")."""
    status = response.status_code
    text = error_text(body, secret)
    fallback = (ServerError if status >= 500 else ProviderHTTPError, "see docs/hosts.md")
    cls, advice = _ADVICE.get(status, fallback)
    if status == 400 and "FAILED_PRECONDITION" in text:
        advice = "the project is not set up for this model (billing, allowlist or org policy)"
    wait = None
    if status in (429, 503):
        wait = wait_hint(response.headers)
        wait = wait if wait is not None else retry_delay(parse_json(body))
    message = f"Vertex AI {what} failed: {status} {text}; {advice}"
    return cls(scrub(message, secret), status_code=status, retry_after=wait)


FETCH_AGAIN = "veolab keeps the operation name and fetches it again on the next run"


def not_obtained(
    operation: str, cause: str, *, completed: bool = True, secret: str | None = None
) -> OutputNotObtainedError:
    """The error for an accepted operation whose video could not be obtained."""
    state = "is done (billed)" if completed else "was accepted (billed once it completes)"
    text = f"Vertex AI operation {operation} {state}, but {cause}; {FETCH_AGAIN}"
    return OutputNotObtainedError(scrub(text, secret), request_id=operation)
