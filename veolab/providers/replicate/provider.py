"""The ``replicate`` provider: Google's Veo models on Replicate's predictions API, over httpx.

    import asyncio
    from veolab.providers import get_provider
    prov = get_provider("replicate", {"model": "veo-3.1-fast"})
    result = asyncio.run(prov.generate(VideoRequest(prompt="calm sea", resolution="720p",
        duration=4)))

``POST /v1/models/google/{model}/predictions`` creates a prediction and names it at once (with
``wait: N``, ``Prefer: wait=N`` holds the answer up to N s first); it is then polled with
``GET /v1/predictions/{id}`` until it succeeds, fails or is canceled. Its output is a URL that
Replicate deletes an hour after the prediction: veolab downloads it at once. The job id is the
prediction id (``on_submitted``, :meth:`ReplicateProvider.resume`). See docs/hosts.md.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from veolab.errors import (
    ConfigError,
    InvalidOutputError,
    OutcomeUnknownError,
    ProviderConnectionError,
    RateLimitError,
    RequestError,
    ServerError,
)
from veolab.providers._hosted import HostedProvider, cause_of, describe_json
from veolab.providers._http.client import Reply
from veolab.providers._http.redact import redact_json, redact_url
from veolab.providers._http.verify import verify_mp4
from veolab.providers.base import ProviderConfig, ProviderResult, Timings
from veolab.providers.capabilities import ModelCaps, problems
from veolab.providers.phase import report_phase
from veolab.providers.replicate.body import prediction_body
from veolab.providers.replicate.capabilities import REPLICATE
from veolab.providers.replicate.config import ReplicateConfig
from veolab.providers.replicate.http import STARTED, TERMINAL, ReplicateHTTP, failure
from veolab.request import SEED_MAX, VideoRequest

DEFAULT_BASE_URL = "https://api.replicate.com"
KEY_ENV = "REPLICATE_API_TOKEN"
BASE_URL_ENV = "REPLICATE_BASE_URL"
SMALL_BODY = 4 << 20  # cap for a prediction's JSON
UNREADABLE_READS = 3  # reads of a prediction that cannot be read before giving up
_SEED_IN_LOGS = re.compile(r"\bseed\b\D{0,12}?(\d{1,10})\b", re.I)


def resolve_base_url(configured: str | None) -> str:
    """``configured``, else $REPLICATE_BASE_URL, else Replicate; without a trailing /v1."""
    url = (configured or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    url = url.removesuffix("/v1")
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"Replicate base URL {url!r} must start with http:// or https:// "
            f"(check --base-url or {BASE_URL_ENV})"
        )
    return url


def _when(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (Replicate's created_at, ...)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def output_url(output: Any) -> str | None:
    """The video's URL in a prediction's ``output``: a URL, or the first of a list."""
    if isinstance(output, list):
        output = next((o for o in output if isinstance(o, str)), None)
    if isinstance(output, dict):
        output = output.get("url")
    if isinstance(output, str) and output.lower().startswith(("http://", "https://")):
        return output
    return None


class ReplicateProvider(HostedProvider[ReplicateHTTP]):
    """Veo on Replicate (veo-3.1, veo-3.1-fast, veo-3, veo-3-fast); paid, needs
    REPLICATE_API_TOKEN."""

    name: ClassVar[str] = "replicate"
    key_env_var: ClassVar[str | None] = KEY_ENV
    config_class: ClassVar[type[ProviderConfig]] = ReplicateConfig
    capabilities: ClassVar[Mapping[str, ModelCaps]] = REPLICATE
    config: ReplicateConfig

    http_class = ReplicateHTTP
    key_prefix: ClassVar[str] = "Bearer "
    missing_key: ClassVar[str] = f"No Replicate API token: set {KEY_ENV} or pass --api-key"

    @classmethod
    def resolve_base_url(cls, configured: str | None) -> str:
        return resolve_base_url(configured)

    def _prediction_url(self, prediction_id: str) -> str:
        return f"{self.base_url}/v1/predictions/{prediction_id}"

    # -- generate / resume ------------------------------------------------------------------

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video. ``on_submitted(prediction_id)`` is called as soon as the create call
        answers (at once, or after ``wait`` seconds); an exception it raises propagates and the
        prediction, already created, is left for :meth:`resume`."""
        self._api_key()  # a missing token fails before any request
        refused = problems(self.capabilities[self.config.model], request)
        if refused:
            raise RequestError(
                "; ".join(refused) + " (see docs/hosts.md for what each host offers)"
            )
        body = prediction_body(request)
        cfg = self.config
        headers = {"prefer": f"wait={cfg.wait}"} if cfg.wait else {}
        # the answer may be held for `wait` seconds: read at least that long
        timeout = (
            httpx.Timeout(cfg.wait + 10.0, connect=cfg.connect_timeout)
            if cfg.wait and cfg.read_timeout < cfg.wait + 10.0
            else None
        )
        async with self.limiter.slot():
            t0 = time.perf_counter()
            attempts: list[int] = []
            reply = await self.http().submit(
                f"{self.base_url}/v1/models/{self.host_model}/predictions",
                body,
                what=f"create of a {self.host_model} prediction",
                permit=self.limiter.submit_permit,
                attempts=attempts,
                max_body=SMALL_BODY,
                headers=headers,
                timeout=timeout,
            )
            data = reply.json()
            pid = data.get("id") if isinstance(data, dict) else None
            if not isinstance(pid, str) or not pid:
                raise OutcomeUnknownError(
                    f"Replicate answered the create of a {self.host_model} prediction with "
                    f"{reply.response.status_code} but no prediction id "
                    f"({describe_json(data)}); it may exist and be billed; do not resubmit "
                    "blindly",
                    details={"status": reply.response.status_code},
                )
            if on_submitted is not None:
                on_submitted(pid)
            meta = {
                "submit_attempts": len(attempts),
                "sent": redact_json(body, self._api_key()),
                "prefer_wait": cfg.wait,
            }
            return await self._follow(request, pid, data, t0, meta)

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Read a created prediction by its id until it is done, then download its output
        (nothing is created again; an output older than an hour is gone)."""
        self._api_key()
        async with self.limiter.slot():
            meta = {"resumed": True, "submit_attempts": 0}
            return await self._follow(request, request_id, None, time.perf_counter(), meta)

    # -- following a prediction -------------------------------------------------------------

    async def _follow(
        self,
        request: VideoRequest,
        pid: str,
        data: Any,
        t0: float,
        meta: dict[str, Any],
    ) -> ProviderResult:
        """Poll prediction ``pid`` (``data``: what the create answered, None: read it first)
        until it is done, then download its output.

        From here on the prediction exists: a failure is GenerationFailedError (Replicate says
        failed or canceled; FilteredError when its safety check refused it), OutcomeUnknownError
        (reads that keep failing, job_timeout: it may still finish) or OutputNotObtainedError
        (anything else: refused, removed, not a video)."""
        cfg = self.config
        interval, deadline = cfg.poll_interval, t0 + cfg.job_timeout
        polls: list[int] = []
        t_started: float | None = None
        unreadable = 0
        if data is None:
            data = (await self._read(pid, polls)).json()
        while True:
            state = data.get("status") if isinstance(data, dict) else None
            now = time.perf_counter()
            if isinstance(state, str) and state.strip():
                unreadable = 0
                state = state.strip().lower()
                if state in STARTED and t_started is None:
                    t_started = now
                if state in TERMINAL:
                    break
            else:
                unreadable += 1
                if unreadable >= UNREADABLE_READS:
                    raise self.http().not_obtained(
                        pid,
                        f"its status could not be read {unreadable} times in a row "
                        f"({describe_json(data)} instead of a prediction)",
                        completed=False,
                    )
            if now + interval > deadline:
                raise OutcomeUnknownError(
                    f"Replicate prediction {pid} is still {state or 'pending'} after "
                    f"{cfg.job_timeout:.0f} s (job_timeout); it may finish and be billed: "
                    "resume it later (within the hour its output is kept)",
                    request_id=pid,
                    details={"status": state},
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, cfg.poll_max_interval)
            data = (await self._read(pid, polls)).json()
        if state != "succeeded":
            raise failure(pid, data)
        t_done = time.perf_counter()
        report_phase("downloading")
        url = output_url(data.get("output"))
        if url is None:
            cause = (
                "its output was removed (Replicate deletes an API prediction's output an hour "
                "after it was created)"
                if data.get("data_removed")
                else f"it succeeded without an output URL ({describe_json(data.get('output'))})"
            )
            raise self.http().not_obtained(pid, cause)
        video = await self._download(url, pid)
        try:
            verify_mp4(video, max_bytes=cfg.max_download_bytes, what="the downloaded file")
        except InvalidOutputError as exc:
            raise self.http().not_obtained(pid, str(exc)) from exc
        t_end = time.perf_counter()
        meta |= {"reads": len(polls), "output": f"url:{redact_url(url)}"}
        return self._result(request, video, pid, data, (t0, t_started, t_done, t_end), meta)

    async def _read(self, pid: str, polls: list[int]) -> Reply:
        """``GET /v1/predictions/{id}``, retried on transient failures; when the retries run
        out the outcome is unknown (the prediction may still finish)."""
        attempts: list[int] = []
        try:
            return await self.http().get(
                self._prediction_url(pid),
                what=f"read of prediction {pid}",
                max_body=SMALL_BODY,
                attempts=attempts,
                request_id=pid,
                accepted="status",
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise OutcomeUnknownError(
                f"Replicate prediction {pid}: could not read it ({cause_of(exc)}, "
                f"{len(attempts)} attempts in all); it may finish and be billed: resume it later",
                request_id=pid,
                details={"phase": "status"},
            ) from exc
        finally:
            polls.extend(attempts)

    async def _download(self, url: str, pid: str) -> bytes:
        attempts: list[int] = []
        try:
            reply = await self.http().get(
                url,
                what="video download",
                max_body=self.config.max_download_bytes,
                attempts=attempts,
                request_id=pid,
                accepted="download",
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise self.http().not_obtained(
                pid,
                f"the video could not be downloaded from {redact_url(url)} ({cause_of(exc)}, "
                f"{len(attempts)} attempts in all)",
            ) from exc
        return reply.body

    def _result(
        self,
        request: VideoRequest,
        video: bytes,
        pid: str,
        data: dict[str, Any],
        clock: tuple[float, float | None, float, float],
        meta: dict[str, Any],
    ) -> ProviderResult:
        t0, t_started, t_done, t_end = clock
        created, started, completed = (
            _when(data.get(k)) for k in ("created_at", "started_at", "completed_at")
        )
        if created is not None and started is not None and completed is not None:
            queued, generating = max(0.0, started - created), max(0.0, completed - started)
        else:
            queued = (t_started or t_done) - t0
            generating = max(0.0, (t_done - t0) - queued)
        seed, source = request.seed, "request"
        found = _SEED_IN_LOGS.search(str(data.get("logs") or ""))
        if found and int(found.group(1)) <= SEED_MAX:
            seed, source = int(found.group(1)), "host"
        key = self._api_key()
        metadata = {
            "provider": "replicate",
            "model": self.config.model,
            "host_model": self.host_model,
            "base_url": redact_url(self.base_url),
            "request_id": pid,
            "seed_source": source,
            "bytes": len(video),
            "response": redact_json(data, key),
            **meta,
        }
        return ProviderResult(
            video=video,
            seed=seed,
            request_id=pid,
            cost=None,  # Replicate's prediction does not say; the price table does
            timings=Timings(
                queued=queued,
                generating=generating,
                downloading=t_end - t_done,
                total=t_end - t0,
            ),
            metadata=metadata,
        )
