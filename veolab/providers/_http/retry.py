"""Which failures are retried, and how long to wait (tenacity), for any HTTP host.

Retried: 429 (after the wait the host asks for, :func:`wait_hint`, when given), 500, 502,
503, 504, and connection failures that happened *before* the request was sent (refused,
DNS, connect timeout, no free connection). For GETs (polls, results, downloads) any transport
failure is retried too, since reading twice costs nothing.

Never retried: 400, 401, 402, 403, 404, 406, 422, and a submit whose request went out but
whose answer was lost (read timeout, reset, truncated response): without an idempotency key
a second POST could start a second billed job. That case raises
:class:`~veolab.errors.OutcomeUnknownError` for the caller to journal and resume.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import datetime
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from veolab.errors import (
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from veolab.providers._http.config import HTTPConfig

log = logging.getLogger("veolab.http")
T = TypeVar("T")

#: transport failures where the request certainly did not reach the host
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
RETRIED_STATUSES = (500, 502, 503, 504)


def transport_error(
    exc: httpx.TransportError,
    *,
    host: str,
    what: str,
    sent_matters: bool,
    check: str = "the base URL",
    request_id: str | None = None,
    details: dict | None = None,
) -> ProviderError:
    """The veolab error for an httpx transport failure of ``what`` on ``host`` ("Segmind").

    ``sent_matters`` marks a submit: once its request may have reached the host, a lost answer
    means the job may exist and be billed. ``check`` names the setting to check when nothing
    connects (``SEGMIND_BASE_URL``).
    """
    kind = type(exc).__name__
    if isinstance(exc, NOT_SENT):
        return ProviderConnectionError(
            f"{host} {what} failed: could not connect ({kind}); check the network and {check}",
            request_id=request_id,
        )
    if sent_matters:
        return OutcomeUnknownError(
            f"{host} {what}: the request was sent but its answer was lost ({kind}); the job "
            "may exist and may be billed; do not resubmit blindly"
            + (f"; resume job {request_id}" if request_id else ""),
            request_id=request_id,
            details={"error": kind, **(details or {})},
        )
    return ProviderConnectionError(
        f"{host} {what} failed: the connection broke ({kind}); try again",
        request_id=request_id,
    )


def _parse_when(value: str, now: float) -> float | None:
    """Seconds from ``now`` until ``value``: seconds, epoch seconds, ISO 8601 or HTTP date."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        return number - now if number > 1e9 else number  # epoch seconds, or a delay
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if when.tzinfo is None:
            return None
        return when.timestamp() - now
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        return parsed.timestamp() - now
    except (TypeError, ValueError):
        return None


def wait_hint(
    headers: httpx.Headers, names: Iterable[str] = ("retry-after",), now: float | None = None
) -> float | None:
    """How long the host asks us to wait: the first of the headers ``names`` that parses."""
    now = time.time() if now is None else now
    for name in names:
        if name in headers:
            delay = _parse_when(headers[name], now)
            if delay is not None:
                return max(0.0, delay)
    return None


def _should_retry(
    config: HTTPConfig, statuses: Collection[int] = RETRIED_STATUSES
) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, RateLimitError):
            return exc.retry_after is None or exc.retry_after <= config.retry_max_wait
        if isinstance(exc, ServerError):
            return exc.status_code in statuses
        return isinstance(exc, ProviderConnectionError)

    return check


def _wait(config: HTTPConfig) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return min(float(hinted), config.retry_max_wait) + 0.05  # land after the reset
        backoff = config.retry_backoff * 2 ** (state.attempt_number - 1)
        return min(config.retry_max_wait, backoff * random.uniform(0.8, 1.2))

    return wait


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    config: HTTPConfig,
    what: str,
    attempts: list[int] | None = None,
    statuses: Collection[int] = RETRIED_STATUSES,
) -> T:
    """Run ``call`` (which raises veolab errors) with the retry policy above.

    ``attempts``, if given, gets one element appended per attempt (for metadata and tests).
    ``statuses``: the 5xx statuses retried (a host whose submit may have been accepted under
    some of them retries fewer: Vertex AI's submit retries only 503).
    """

    async def counted() -> T:
        if attempts is not None:
            attempts.append(1)
        return await call()

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "%s: %s; retry %d of %d in %.2f s",
            what,
            exc,
            state.attempt_number,
            config.max_retries,
            delay,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.max_retries + 1),
        wait=_wait(config),
        retry=retry_if_exception(_should_retry(config, statuses)),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(counted)
