"""The ``segmind`` provider: Veo 3.1 on Segmind's serverless API, over httpx.

    import asyncio
    from veolab.providers import get_provider
    prov = get_provider("segmind", {"model": "veo-3.1-fast", "mode": "sync"})
    result = asyncio.run(prov.generate(VideoRequest(prompt="calm sea", resolution="720p",
        duration=4)))

Two modes: ``queue`` (default) submits ``POST /v2/{model}``, polls ``status_url`` with backoff
until COMPLETED or FAILED, then reads ``response_url`` and downloads its ``output``; ``sync``
posts ``POST /v1/{model}`` and the answer is the video. See docs/hosts.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from veolab.errors import (
    ConfigError,
    GenerationFailedError,
    InvalidOutputError,
    OutcomeUnknownError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
)
from veolab.providers._hosted import HostedProvider, cause_of
from veolab.providers._http.client import Reply
from veolab.providers._http.limiter import Limiter
from veolab.providers._http.redact import redact_json, redact_url
from veolab.providers._http.verify import verify_mp4
from veolab.providers.base import ProviderConfig, ProviderResult, Timings
from veolab.providers.capabilities import SEGMIND, ModelCaps, price_table
from veolab.providers.phase import report_phase
from veolab.providers.segmind.body import BODY_NAMES, file_urls, request_body
from veolab.providers.segmind.client import SegmindHTTP
from veolab.providers.segmind.config import SegmindConfig
from veolab.providers.segmind.http import describe_answer, not_obtained
from veolab.providers.segmind.output import (
    decode_base64_video,
    describe_json,
    find_output,
    is_video_response,
)
from veolab.providers.segmind.result import build_result
from veolab.request import VideoRequest

DEFAULT_BASE_URL = "https://api.segmind.com"
DEFAULT_STORAGE_URL = "https://workflows-api.segmind.com"
KEY_ENV = "SEGMIND_API_KEY"
BASE_URL_ENV = "SEGMIND_BASE_URL"
STORAGE_URL_ENV = "SEGMIND_STORAGE_URL"
#: the Veo family on Segmind, its rules and prices: veolab.providers.capabilities
MODELS = tuple(SEGMIND)
PRICES: dict[str, dict[str, float]] = price_table(SEGMIND)
TYPICAL_SECONDS = {model: row.typical_seconds for model, row in SEGMIND.items()}
DONE = ("COMPLETED", "SUCCEEDED", "SUCCESS")
FAILED = ("FAILED", "ERROR", "CANCELED", "CANCELLED")
STARTED = ("PROCESSING", "IN_PROGRESS", "RUNNING", "STARTED")
SMALL_BODY = 4 << 20  # cap for JSON answers that do not carry the video inline
UNREADABLE_READS = 3  # reads of a status or result that cannot be read before giving up


def resolve_base_url(configured: str | None) -> str:
    """``configured``, else $SEGMIND_BASE_URL, else Segmind; without a trailing /v1 or /v2."""
    url = (configured or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    if url.endswith(("/v1", "/v2")):
        url = url[:-3]
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"Segmind base URL {url!r} must start with http:// or https:// "
            f"(check --base-url or {BASE_URL_ENV})"
        )
    return url


class SegmindProvider(HostedProvider[SegmindHTTP]):
    """The Veo family (veo-3.1, -fast, -lite, veo-3, -fast) on Segmind; paid, needs
    SEGMIND_API_KEY."""

    name: ClassVar[str] = "segmind"
    key_env_var: ClassVar[str | None] = KEY_ENV
    config_class: ClassVar[type[ProviderConfig]] = SegmindConfig
    capabilities: ClassVar[Mapping[str, ModelCaps]] = SEGMIND
    config: SegmindConfig

    http_class = SegmindHTTP
    key_header: ClassVar[str] = "x-api-key"
    key_prefix: ClassVar[str] = ""
    missing_key: ClassVar[str] = f"No Segmind API key: set {KEY_ENV} or pass --api-key"

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(config, transport=transport, limiter=limiter)
        storage = self.config.storage_url or os.environ.get(STORAGE_URL_ENV)
        default_host = self.base_url == DEFAULT_BASE_URL
        self.storage_url = storage or (DEFAULT_STORAGE_URL if default_host else self.base_url)
        self.storage_url = self.storage_url.rstrip("/")

    # -- setup ----------------------------------------------------------------------------

    @classmethod
    def resolve_base_url(cls, configured: str | None) -> str:
        return resolve_base_url(configured)

    def key_origins(self) -> list[str]:
        """The API and Segmind's storage (the upload of an image): the key goes to both."""
        return [self.base_url, self.storage_url]

    @property
    def model(self) -> str:
        return self.config.model

    # -- the request body -------------------------------------------------------------------

    async def request_body(self, request: VideoRequest) -> dict[str, Any]:
        """The JSON Segmind gets: API fields only, images as URLs or inline data URIs."""

        async def upload(data_urls: list[str]) -> list[str]:
            reply = await self.http().post_idempotent(
                f"{self.storage_url}/upload-asset", {"data_urls": data_urls}, what="image upload"
            )
            return file_urls(reply.json(), len(data_urls))

        return await request_body(
            request,
            inline_images=self.config.inline_images,
            upload=upload,
            names=BODY_NAMES.get(self.model),
        )

    # -- generate / resume ------------------------------------------------------------------

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video.

        Queue mode calls ``on_submitted(request_id)`` right after the v2 submit is accepted and
        before polling (sync mode has no id to resume, so it never calls it); an exception it
        raises propagates, and the job, already accepted, is left for :meth:`resume`.
        """
        self._api_key()  # a missing key fails before any request
        body = await self.request_body(request)
        async with self.limiter.slot():
            if self.config.mode == "sync":
                return await self._run_sync(request, body)
            t0 = time.perf_counter()
            submit_attempts: list[int] = []
            reply = await self.http().submit(
                f"{self.base_url}/v2/{self.model}",
                body,
                what=f"submit to {self.model}",
                permit=self.limiter.submit_permit,
                attempts=submit_attempts,
                max_body=SMALL_BODY,
            )
            rid, status_url, response_url = self._accepted(reply)
            if on_submitted is not None:
                on_submitted(rid)
            meta = {
                "submit_attempts": len(submit_attempts),
                "sent": redact_json(body, self._api_key()),
            }
            return await self._follow(request, rid, status_url, response_url, t0, meta)

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Poll an already accepted v2 job by its id, then download it (nothing is resubmitted)."""
        self._api_key()
        status_url = f"{self.base_url}/v2/requests/{request_id}/status"
        response_url = f"{self.base_url}/v2/requests/{request_id}"
        async with self.limiter.slot():
            meta = {"resumed": True, "submit_attempts": 0}
            return await self._follow(
                request, request_id, status_url, response_url, time.perf_counter(), meta
            )

    def _accepted(self, reply: Reply) -> tuple[str, str, str]:
        data = reply.json()
        rid = (data.get("request_id") if isinstance(data, dict) else None) or reply.headers.get(
            "x-request-id"
        )
        if not isinstance(data, dict) or not rid:
            raise OutcomeUnknownError(
                f"Segmind submit to {self.model} answered {reply.response.status_code} without a "
                "readable request_id; the job may exist and be billed; do not resubmit blindly",
                request_id=rid,
                details={"body": describe_json(data) if data else "not JSON"},
            )
        rid = str(rid)
        status_url = data.get("status_url") or f"{self.base_url}/v2/requests/{rid}/status"
        response_url = (
            data.get("response_url") or data.get("poll_url") or f"{self.base_url}/v2/requests/{rid}"
        )
        return rid, str(status_url), str(response_url)

    # -- queue mode -------------------------------------------------------------------------

    async def _follow(
        self,
        request: VideoRequest,
        rid: str,
        status_url: str,
        response_url: str,
        t0: float,
        meta: dict[str, Any],
    ) -> ProviderResult:
        """Poll ``status_url`` until the job is done, then read its result and download it.

        The job is accepted from here on: a failure is GenerationFailedError (the host says
        FAILED), OutcomeUnknownError (polls that keep failing, job_timeout: it may still
        finish) or OutputNotObtainedError (anything else: refused, unreadable, not a video).
        """
        cfg = self.config
        interval, deadline = cfg.poll_interval, t0 + cfg.job_timeout
        t_started: float | None = None
        polls: list[int] = []
        unreadable = 0
        while True:
            reply = await self._job_get(status_url, rid, "status", polls, SMALL_BODY)
            data = reply.json()
            state = data.get("status") if isinstance(data, dict) else None
            now = time.perf_counter()
            if isinstance(state, str) and state.strip():
                unreadable = 0
                state = state.strip().upper()
                if state in STARTED and t_started is None:
                    t_started = now
                if state in DONE:
                    break
                if state in FAILED:
                    raise self._failed(rid, data)
            else:
                unreadable += 1
                if unreadable >= UNREADABLE_READS:
                    raise not_obtained(
                        rid,
                        f"its status could not be read {unreadable} times in a row "
                        f"({self._describe(reply)} instead of a JSON object with a status)",
                        completed=False,
                        secret=self._api_key(),
                    )
            if now + interval > deadline:
                raise OutcomeUnknownError(
                    f"Segmind job {rid} is still {state or 'pending'} after "
                    f"{cfg.job_timeout:.0f} s (job_timeout); it may finish and be billed: "
                    "resume it later",
                    request_id=rid,
                    details={"status": state, "status_url": status_url},
                )
            interval = await self._pause(interval)
        t_done = time.perf_counter()
        report_phase("downloading")
        unreadable = 0
        while True:  # the status says done: a result without a video is read again, a little
            reply = await self._job_get(response_url, rid, "result", polls, cfg.max_download_bytes)
            found = self._locate(reply)
            if found is not None:
                break
            data = reply.json()
            if isinstance(data, dict) and str(data.get("status", "")).upper() in FAILED:
                raise self._failed(rid, data)
            unreadable += 1
            if unreadable >= UNREADABLE_READS:
                raise not_obtained(
                    rid,
                    f"its result held no video output in {unreadable} reads "
                    f"({self._describe(reply)})",
                    secret=self._api_key(),
                )
            interval = await self._pause(interval)
        video, source = await self._fetch(found, reply, rid)
        t_end = time.perf_counter()
        data = reply.json() if found[0] != "body" else None
        metrics = data.get("metrics") if isinstance(data, dict) else None
        metrics = metrics if isinstance(metrics, dict) else {}
        reported = metrics.get("queue_time")
        queued = (
            float(reported)
            if isinstance(reported, int | float) and reported >= 0
            else (t_started or t_done) - t0
        )
        timings = Timings(
            queued=queued,
            generating=max(0.0, (t_done - t0) - queued),
            downloading=t_end - t_done,
            total=t_end - t0,
        )
        meta |= {
            "response": redact_json(data, self._api_key()) if data else None,
            "reads": len(polls),
            "output": source,
        }
        return self._result(request, video, rid, reply, data, timings, meta)

    async def _pause(self, interval: float) -> float:
        """Wait ``interval`` seconds; the next wait (x1.5, up to poll_max_interval)."""
        await asyncio.sleep(interval)
        return min(interval * 1.5, self.config.poll_max_interval)

    def _failed(self, rid: str, data: dict[str, Any]) -> GenerationFailedError:
        reason = str(data.get("error") or "no reason given")[:300]
        return GenerationFailedError(
            f"Segmind job {rid} FAILED: {reason}; not billed; change the prompt or "
            "parameters and try again",
            request_id=rid,
        )

    async def _job_get(
        self, url: str, rid: str, what: str, polls: list[int], max_body: int
    ) -> Reply:
        """A status or result GET of an accepted job, retried on transient failures.

        When the retries run out, an unread status leaves the outcome unknown (the job may
        still fail or finish); an unread result of a finished job is billed, not obtained.
        A refusal (4xx) is OutputNotObtainedError already (see SegmindHTTP.get).
        """
        attempts: list[int] = []
        try:
            return await self.http().get(
                url,
                what=f"{what} of job {rid}",
                max_body=max_body,
                attempts=attempts,
                request_id=rid,
                tolerate_failed=True,
                accepted=what,
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            cause = f"{cause_of(exc)}, {len(attempts)} attempts in all"
            if what == "status":
                raise OutcomeUnknownError(
                    f"Segmind job {rid}: could not read its status ({cause}); it may finish "
                    "and be billed: resume it later",
                    request_id=rid,
                    details={"phase": what},
                ) from exc
            raise not_obtained(rid, f"its {what} could not be read ({cause})") from exc
        finally:
            polls.extend(attempts)

    # -- sync mode --------------------------------------------------------------------------

    async def _run_sync(self, request: VideoRequest, body: dict[str, Any]) -> ProviderResult:
        t0 = time.perf_counter()
        attempts: list[int] = []
        reply = await self.http().submit(
            f"{self.base_url}/v1/{self.model}",
            body,
            what=f"sync call to {self.model}",
            permit=self.limiter.submit_permit,
            attempts=attempts,
            max_body=self.config.max_download_bytes,
            billed_answer=True,
        )
        # a success status: the job is done and billed, whatever follows
        t1 = time.perf_counter()
        report_phase("downloading")
        rid = reply.headers.get("x-request-id")
        found = ("redirect", reply.location) if reply.location else self._locate(reply)
        if found is None:
            raise not_obtained(
                rid,
                f"its answer held no video output ({self._describe(reply)})",
                secret=self._api_key(),
            )
        video, source = await self._fetch(found, reply, rid)
        t2 = time.perf_counter()
        data = reply.json() if found[0] not in ("body", "redirect") else None
        meta = {
            "submit_attempts": len(attempts),
            "output": source,
            "sent": redact_json(body, self._api_key()),
        }
        timings = Timings(queued=0.0, generating=t1 - t0, downloading=t2 - t1, total=t2 - t0)
        return self._result(request, video, rid, reply, data, timings, meta)

    # -- turning answers into a video -------------------------------------------------------

    def _locate(self, reply: Reply) -> tuple[str, str] | None:
        """Where the video of a success answer is: ("body", ""), ("url", url) or
        ("base64", text); None when the answer holds none."""
        if is_video_response(reply.response, reply.body[:8]):
            return "body", ""
        data = reply.json()
        return find_output(data) if data is not None else None

    def _describe(self, reply: Reply) -> str:
        return describe_answer(reply.response, reply.body, self._api_key())

    async def _fetch(
        self, found: tuple[str, str], reply: Reply, rid: str | None
    ) -> tuple[bytes, str]:
        """The verified MP4 bytes of an accepted job's answer, and where they came from.

        Anything that keeps them from being a video is OutputNotObtainedError: the job is
        billed either way.
        """
        kind, value = found
        try:
            if kind == "body":
                video, source, what = reply.body, "body", "the body of the answer"
            elif kind == "base64":
                video = decode_base64_video(value, "the inline (base64) output")
                source, what = "base64", "the inline (base64) output"
            else:
                video = await self._download(value, rid)
                source, what = f"{kind}:{redact_url(value)}", "the downloaded file"
            verify_mp4(video, max_bytes=self.config.max_download_bytes, what=what)
        except InvalidOutputError as exc:
            raise not_obtained(rid, str(exc), secret=self._api_key()) from exc
        return video, source

    async def _download(self, url: str, rid: str | None) -> bytes:
        attempts: list[int] = []
        try:
            reply = await self.http().get(
                url,
                what="video download",
                max_body=self.config.max_download_bytes,
                attempts=attempts,
                request_id=rid,
                accepted="download",
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise not_obtained(
                rid,
                f"the video could not be downloaded from {redact_url(url)} "
                f"({cause_of(exc)}, {len(attempts)} attempts in all)",
            ) from exc
        return reply.body

    def _result(
        self,
        request: VideoRequest,
        video: bytes,
        rid: str | None,
        reply: Reply,
        data: Any,
        timings: Timings,
        meta: dict[str, Any],
    ) -> ProviderResult:
        context = {
            "provider": "segmind",
            "model": self.model,
            "mode": self.config.mode,
            "base_url": redact_url(self.base_url),
        }
        return build_result(
            request,
            video,
            rid,
            reply.headers,
            data,
            timings,
            context | meta,
            secret=self._api_key(),
        )
