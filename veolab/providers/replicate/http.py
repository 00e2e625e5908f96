"""Replicate's requests and answers: the key as ``Authorization: Bearer``, its error JSON
(``{"title", "detail", "status"}``), and which of its failures a prediction reports.

Retries (see :mod:`veolab.providers._http.hosted`): a create call is retried on 429 only (and
on a connection that never reached Replicate); Replicate's own client never repeats a POST, and
a 5xx to a create that holds the answer up to 60 s (``Prefer: wait``) may hide a prediction
that exists, so it raises OutcomeUnknownError. Reads of a prediction and its output are
retried on 429, 5xx and transport failures.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from veolab.errors import FilteredError, GenerationFailedError
from veolab.providers._http.hosted import HostedHTTP

#: a failed prediction's error that means Replicate's safety check refused the input or output
#: (Replicate's error code E005: "flagged as sensitive")
_FILTERED = re.compile(r"\bE005\b|flagged as sensitive|safety filter|content policy", re.I)

TERMINAL = ("succeeded", "failed", "canceled", "aborted")
STARTED = ("processing",)


class ReplicateHTTP(HostedHTTP):
    """Requests to Replicate with the token, the limits and the retry policy applied."""

    host: ClassVar[str] = "Replicate"
    base_setting: ClassVar[str] = "REPLICATE_BASE_URL"
    advice: ClassVar[dict[int, str]] = {
        400: "fix the input it names",
        401: "check REPLICATE_API_TOKEN (replicate.com > Account settings > API tokens)",
        402: "add credit at replicate.com/account/billing or lower the budget",
        403: "this token may not run the model; check the account",
        404: "check --model and REPLICATE_BASE_URL",
        422: "fix the input it names (see docs/hosts.md)",
        429: "wait for the reset or lower submits_per_minute",
        500: "try again later",
    }


def failure(prediction_id: str, data: dict[str, Any]) -> GenerationFailedError:
    """The error for a prediction Replicate reports failed, canceled or aborted: FilteredError
    when its safety check refused it (not billed either way)."""
    status = str(data.get("status") or "failed")
    reason = " ".join(str(data.get("error") or f"prediction {status}").split())[:300]
    if _FILTERED.search(reason):
        return FilteredError(
            f"Replicate prediction {prediction_id} was filtered by the host's safety system: "
            f"{reason}; not billed; change the prompt or images",
            request_id=prediction_id,
            reasons=[reason],
        )
    return GenerationFailedError(
        f"Replicate prediction {prediction_id} {status}: {reason}; not billed; change the "
        "prompt or parameters and try again",
        request_id=prediction_id,
    )
