"""A ProviderResult from Segmind's answer: seed, cost, credits, kept headers, metadata.

Each fact is read from the response headers first (``x-seed-value``, ``x-cost``,
``x-remaining-credits``), then from the JSON's ``metrics`` object, then from the JSON itself.
Without a reported seed, the request's own seed stands (``seed_source: "request"``).
"""

from __future__ import annotations

from typing import Any

import httpx

from veolab.providers._http.redact import redact_json
from veolab.providers.base import ProviderResult, Timings
from veolab.providers.segmind.http import header_float, header_int, kept_headers
from veolab.request import VideoRequest


def build_result(
    request: VideoRequest,
    video: bytes,
    request_id: str | None,
    headers: httpx.Headers,
    data: Any,
    timings: Timings,
    context: dict[str, Any],
    *,
    secret: str,
) -> ProviderResult:
    fields = data if isinstance(data, dict) else {}
    found = fields.get("metrics")
    metrics: dict[str, Any] = found if isinstance(found, dict) else {}

    def number(header: str, field: str) -> float | None:
        value = header_float(headers, header)
        for source in (metrics, fields):
            candidate = source.get(field)
            if (
                value is None
                and isinstance(candidate, int | float)
                and not isinstance(candidate, bool)
            ):
                value = float(candidate)
        return value

    seed = header_int(headers, "x-seed-value")
    if seed is None:
        raw = number("x-seed-value", "seed")
        seed = int(raw) if raw is not None and raw == int(raw) else None
    metadata = {
        **context,
        "request_id": request_id,
        "headers": kept_headers(headers, secret),
        "seed_source": "host" if seed is not None else "request",
        "bytes": len(video),
        "metrics": redact_json(metrics, secret),
    }
    return ProviderResult(
        video=video,
        seed=seed if seed is not None else request.seed,
        request_id=request_id or headers.get("x-request-id"),
        cost=number("x-cost", "cost"),
        remaining_credits=number("x-remaining-credits", "remaining_credits"),
        timings=timings,
        metadata=metadata,
    )
