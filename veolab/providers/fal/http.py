"""fal.ai's requests and answers: the key as ``Authorization: Key``, its error JSON (``detail``
as text or as a list of ``{loc, msg, type}``, ``error_type``), what is safe to repeat, and
which failures of a request are its safety checks.

Retries (see :mod:`veolab.providers._http.hosted`): a submit is retried on 429, on an answer
fal marks ``X-Fal-Retryable: true``, and on a 502/503/504 that carries no ``x-fal-request-id``
(fal's own client calls these ingress errors: the request never reached the queue). Any other
5xx to a submit raises OutcomeUnknownError. Reads are retried on 429, 5xx and transport
failures.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from veolab.errors import (
    FilteredError,
    GenerationFailedError,
    InsufficientCreditsError,
    ProviderHTTPError,
)
from veolab.providers._http.download import parse_json
from veolab.providers._http.hosted import HostedHTTP, error_text
from veolab.providers._http.redact import scrub

#: fal's error type for a prompt or image its content checker refused
POLICY = "content_policy_violation"
_POLICY_TEXT = re.compile(r"content (policy|checker)|flagged|safety (filter|system)", re.I)
_BALANCE = re.compile(r"balance|exhausted|billing|locked", re.I)

DONE, STARTED = "COMPLETED", "IN_PROGRESS"
INGRESS = (502, 503, 504)


def error_types(data: Any) -> list[str]:
    """The machine-readable error types of a fal answer (``detail[].type``, ``error_type``)."""
    found: list[str] = []
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list):
            found += [str(d["type"]) for d in detail if isinstance(d, dict) and d.get("type")]
        if data.get("error_type"):
            found.append(str(data["error_type"]))
    return found


class FalHTTP(HostedHTTP):
    """Requests to fal.ai with the key, the limits and the retry policy applied."""

    host: ClassVar[str] = "fal.ai"
    base_setting: ClassVar[str] = "FAL_BASE_URL (or FAL_QUEUE_RUN_HOST)"
    id_header: ClassVar[str] = "x-fal-request-id"
    advice: ClassVar[dict[int, str]] = {
        400: "fix the input it names",
        401: "check FAL_KEY (fal.ai > Dashboard > Keys)",
        403: "this key may not use the app; check the account",
        404: "check --model and FAL_BASE_URL",
        422: "fix the input it names (see docs/hosts.md)",
        429: "wait or lower submits_per_minute and max_in_flight",
        500: "try again later",
    }

    def error_for(
        self, response: httpx.Response, *, what: str, request_id: str | None = None
    ) -> ProviderHTTPError:
        text = error_text(response, self._key)
        typed: ProviderHTTPError
        if response.status_code == 403 and _BALANCE.search(text):
            # fal answers an exhausted balance with 403 "User is locked"
            typed = InsufficientCreditsError(
                scrub(
                    f"fal.ai {what} failed: 403 insufficient credit: {text}; top up at fal.ai > "
                    "Dashboard > Billing or lower the budget",
                    self._key,
                ),
                status_code=403,
                request_id=request_id or response.headers.get(self.id_header),
            )
        else:
            typed = super().error_for(response, what=what, request_id=request_id)
        data = parse_json(response.content[:20000]) if response.content else None
        types = error_types(data) + [response.headers.get("x-fal-error-type", "")]
        typed.error_types = [t for t in types if t]  # type: ignore[attr-defined]
        return typed

    def submit_retryable(self, response: httpx.Response) -> bool:
        if response.headers.get("x-fal-retryable", "").strip().lower() == "true":
            return True
        return response.status_code in INGRESS and self.id_header not in response.headers


def failure(
    request_id: str | None, status: dict[str, Any], result: httpx.Response | None
) -> GenerationFailedError:
    """The error for a request fal completed with an error (``status``: its last status,
    ``result``: the answer of its result URL, when read; ``request_id`` None: a submit fal
    refused): FilteredError when fal's content checker refused it, else
    GenerationFailedError (not billed either way)."""
    name = f"request {request_id}" if request_id else "submit"
    data = parse_json(result.content) if result is not None else None
    types = error_types(status) + error_types(data)
    if result is not None:
        types.append(result.headers.get("x-fal-error-type", ""))
    texts = [str(status.get("error") or "")]
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list):
            texts += [str(d.get("msg", "")) for d in detail if isinstance(d, dict)]
        elif detail:
            texts.append(str(detail))
    unique = dict.fromkeys(" ".join(t.split()) for t in texts if t.strip())
    reason = "; ".join(unique)[:300] or "no reason given"
    if POLICY in types or _POLICY_TEXT.search(reason):
        return FilteredError(
            f"fal.ai {name} was filtered by the host's safety system: {reason}; "
            "not billed; change the prompt or images (auto_fix lets fal rewrite a refused prompt)",
            request_id=request_id,
            reasons=[reason],
        )
    return GenerationFailedError(
        f"fal.ai {name} failed: {reason}; not billed; change the prompt or "
        "parameters and try again",
        request_id=request_id,
    )
