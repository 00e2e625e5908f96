"""The ``fal`` provider: Google's Veo 3.1 on fal.ai's queue API, over httpx.

    import asyncio
    from veolab.providers import get_provider
    prov = get_provider("fal", {"model": "veo-3.1-fast"})
    result = asyncio.run(prov.generate(VideoRequest(prompt="calm sea", resolution="720p",
        duration=4)))

``POST https://queue.fal.run/{app}`` (the app chosen from the request: text, image, first and
last frame, reference images) answers a request id; ``GET .../requests/{id}/status`` is polled
until IN_QUEUE and IN_PROGRESS give way to COMPLETED, then ``GET .../requests/{id}`` holds
``{"video": {"url": ...}}``, which is downloaded. The job id is the request id
(``on_submitted``, :meth:`FalProvider.resume`). See docs/hosts.md.
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
    InvalidOutputError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    RequestError,
    ServerError,
    ValidationRejectedError,
)
from veolab.providers._hosted import HostedProvider, cause_of, describe_json
from veolab.providers._http.client import Reply
from veolab.providers._http.redact import redact_json, redact_url
from veolab.providers._http.verify import verify_mp4
from veolab.providers.base import ProviderConfig, ProviderResult, Timings
from veolab.providers.capabilities import ModelCaps
from veolab.providers.capabilities import problems as row_problems
from veolab.providers.fal.body import NOT_IN_REFERENCE, REFERENCE, app_for, fal_input, kind_of
from veolab.providers.fal.capabilities import FAL
from veolab.providers.fal.config import FalConfig
from veolab.providers.fal.http import DONE, POLICY, STARTED, FalHTTP, failure
from veolab.providers.phase import report_phase
from veolab.request import SEED_MAX, VideoRequest

DEFAULT_BASE_URL = "https://queue.fal.run"
KEY_ENV = "FAL_KEY"
BASE_URL_ENV = "FAL_BASE_URL"
#: fal-client's own variable: the queue's host name, reached over https
HOST_ENV = "FAL_QUEUE_RUN_HOST"
SMALL_BODY = 4 << 20  # cap for a status or result JSON
UNREADABLE_READS = 3
PROMPT_MAX = 5000  # characters of a rewritten prompt kept in the run's tag


def resolve_base_url(configured: str | None) -> str:
    """``configured``, else $FAL_BASE_URL, else ``https://$FAL_QUEUE_RUN_HOST``, else fal's
    queue."""
    host = os.environ.get(HOST_ENV, "").strip()
    url = (
        configured
        or os.environ.get(BASE_URL_ENV)
        or (f"https://{host}" if host else DEFAULT_BASE_URL)
    )
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"fal.ai base URL {url!r} must start with http:// or https:// "
            f"(check --base-url or {BASE_URL_ENV})"
        )
    return url


def key_from_env() -> str:
    """``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET`` (fal-client's two ways), else ""."""
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        return key
    key_id, secret = (os.environ.get(f"FAL_KEY_{p}", "").strip() for p in ("ID", "SECRET"))
    return f"{key_id}:{secret}" if key_id and secret else ""


def video_url(result: Any) -> str | None:
    """The video's URL in a result: ``video.url`` (also ``video_url`` or ``url``)."""
    if not isinstance(result, dict):
        return None
    video = result.get("video")
    for candidate in (
        video.get("url") if isinstance(video, dict) else video,
        result.get("video_url"),
        result.get("url"),
    ):
        if isinstance(candidate, str) and candidate.lower().startswith(("http://", "https://")):
            return candidate
    return None


class FalProvider(HostedProvider[FalHTTP]):
    """Veo 3.1 (and veo-3.1-fast) on fal.ai; paid, needs FAL_KEY."""

    name: ClassVar[str] = "fal"
    key_env_var: ClassVar[str | None] = KEY_ENV
    config_class: ClassVar[type[ProviderConfig]] = FalConfig
    capabilities: ClassVar[Mapping[str, ModelCaps]] = FAL
    config: FalConfig

    http_class = FalHTTP
    key_prefix: ClassVar[str] = "Key "
    missing_key: ClassVar[str] = (
        f"No fal.ai API key: set {KEY_ENV} (or FAL_KEY_ID and FAL_KEY_SECRET) or pass --api-key"
    )

    @classmethod
    def resolve_base_url(cls, configured: str | None) -> str:
        return resolve_base_url(configured)

    @classmethod
    def key_from_env(cls) -> str:
        return key_from_env()

    # -- what a plan needs to know ----------------------------------------------------------

    @classmethod
    def problems(cls, request: VideoRequest, model: str) -> list[str]:
        """The row's problems, and what the app the request needs does not take (the
        reference-to-video app takes no negative prompt and no seed)."""
        row = cls.capabilities.get(model)
        found = row_problems(row, request) if row is not None else []
        if kind_of(request) == REFERENCE:
            found += [
                f"{name} not offered by fal {model} with reference_images (reference-to-video)"
                for name in NOT_IN_REFERENCE
                if getattr(request, name) is not None
            ]
        return found

    @classmethod
    def output_params(cls, config: ProviderConfig) -> dict[str, Any]:
        """fal's options that change what comes back: logged as params of every run."""
        assert isinstance(config, FalConfig)
        return {
            "fal.auto_fix": config.auto_fix,
            "fal.safety_tolerance": config.safety_tolerance or "default",
        }

    @classmethod
    def seed_holds(cls, config: ProviderConfig) -> str | None:
        """Why a seed may not reproduce a video with ``config``: auto_fix lets fal rewrite a
        refused prompt, and a rewrite need not come out the same twice."""
        if getattr(config, "auto_fix", False):
            return "fal auto_fix on: fal may rewrite a refused prompt, and not the same way twice"
        return None

    def _request_url(self, request_id: str) -> str:
        """Where a request's status and result are: under the app's owner and alias
        (``fal-ai/veo3.1``), whichever app it was submitted to (fal-client does the same)."""
        owner_alias = "/".join(self.host_model.split("/")[:2])
        return f"{self.base_url}/{owner_alias}/requests/{request_id}"

    # -- generate / resume ------------------------------------------------------------------

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video. ``on_submitted(request_id)`` is called as soon as fal has queued the
        request (before polling); an exception it raises propagates and the request, already
        queued, is left for :meth:`resume`."""
        self._api_key()  # a missing key fails before any request
        refused = self.problems(request, self.config.model)
        if refused:
            raise RequestError(
                "; ".join(refused) + " (see docs/hosts.md for what each host offers)"
            )
        cfg = self.config
        body = fal_input(request, auto_fix=cfg.auto_fix, safety_tolerance=cfg.safety_tolerance)
        app = app_for(self.host_model, request)
        async with self.limiter.slot():
            t0 = time.perf_counter()
            attempts: list[int] = []
            try:
                reply = await self.http().submit(
                    f"{self.base_url}/{app}",
                    body,
                    what=f"submit to {app}",
                    permit=self.limiter.submit_permit,
                    attempts=attempts,
                    max_body=SMALL_BODY,
                )
            except ValidationRejectedError as exc:
                if POLICY in getattr(exc, "error_types", []):
                    raise failure(None, {"error": str(exc), "error_type": POLICY}, None) from exc
                raise
            data = reply.json()
            rid = (data.get("request_id") if isinstance(data, dict) else None) or (
                reply.headers.get("x-fal-request-id")
            )
            if not isinstance(rid, str) or not rid:
                raise OutcomeUnknownError(
                    f"fal.ai answered the submit to {app} with {reply.response.status_code} but "
                    f"no request id ({describe_json(data)}); it may be queued and billed; do not "
                    "resubmit blindly",
                    details={"status": reply.response.status_code},
                )
            if on_submitted is not None:
                on_submitted(rid)
            meta = {
                "app": app,
                "submit_attempts": len(attempts),
                "sent": redact_json(body, self._api_key()),
            }
            return await self._follow(request, rid, t0, meta)

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Poll a queued request by its id until it completes, then download its video
        (nothing is submitted again)."""
        self._api_key()
        async with self.limiter.slot():
            meta = {"app": app_for(self.host_model, request), "resumed": True, "submit_attempts": 0}
            return await self._follow(request, request_id, time.perf_counter(), meta)

    # -- following a request ----------------------------------------------------------------

    async def _follow(
        self, request: VideoRequest, rid: str, t0: float, meta: dict[str, Any]
    ) -> ProviderResult:
        """Poll request ``rid`` until COMPLETED, then read its result and download the video.

        The request is queued from here on: a failure is GenerationFailedError (fal completed it
        with an error; FilteredError when its content checker refused it), OutcomeUnknownError
        (polls that keep failing, job_timeout: it may still finish) or OutputNotObtainedError
        (anything else: refused, unreadable, not a video)."""
        cfg = self.config
        interval, deadline = cfg.poll_interval, t0 + cfg.job_timeout
        url = self._request_url(rid)
        polls: list[int] = []
        t_started: float | None = None
        unreadable = 0
        while True:
            data = (await self._status(f"{url}/status", rid, polls)).json()
            state = data.get("status") if isinstance(data, dict) else None
            now = time.perf_counter()
            if isinstance(state, str) and state.strip():
                unreadable = 0
                state = state.strip().upper()
                if state == STARTED and t_started is None:
                    t_started = now
                if state == DONE:
                    break
            else:
                unreadable += 1
                if unreadable >= UNREADABLE_READS:
                    raise self.http().not_obtained(
                        rid,
                        f"its status could not be read {unreadable} times in a row "
                        f"({describe_json(data)} instead of a status)",
                        completed=False,
                    )
            if now + interval > deadline:
                raise OutcomeUnknownError(
                    f"fal.ai request {rid} is still {state or 'pending'} after "
                    f"{cfg.job_timeout:.0f} s (job_timeout); it may finish and be billed: "
                    "resume it later",
                    request_id=rid,
                    details={"status": state},
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, cfg.poll_max_interval)
        t_done = time.perf_counter()
        if data.get("error"):
            raise failure(rid, data, await self._failed_result(url, rid))
        report_phase("downloading")
        reply = await self._result(url, rid, polls)
        if reply.response.status_code >= 400:  # a model error, read from the result URL
            raise failure(rid, data, reply.response)
        result = reply.json()
        found = video_url(result)
        if found is None:
            raise self.http().not_obtained(
                rid, f"its result held no video URL ({describe_json(result)})"
            )
        video = await self._download(found, rid)
        try:
            verify_mp4(video, max_bytes=cfg.max_download_bytes, what="the downloaded file")
        except InvalidOutputError as exc:
            raise self.http().not_obtained(rid, str(exc)) from exc
        t_end = time.perf_counter()
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        inference = metrics.get("inference_time") if metrics else None
        generating = (
            float(inference)
            if isinstance(inference, int | float) and inference >= 0
            else t_done - (t_started or t0)
        )
        timings = Timings(
            queued=max(0.0, (t_done - t0) - generating),
            generating=generating,
            downloading=t_end - t_done,
            total=t_end - t0,
        )
        meta |= {"reads": len(polls), "output": f"url:{redact_url(found)}", "metrics": metrics}
        return self._build(request, video, rid, result, timings, meta)

    async def _status(self, url: str, rid: str, polls: list[int]) -> Reply:
        attempts: list[int] = []
        try:
            return await self.http().get(
                url,
                what=f"status of request {rid}",
                max_body=SMALL_BODY,
                attempts=attempts,
                request_id=rid,
                accepted="status",
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise OutcomeUnknownError(
                f"fal.ai request {rid}: could not read its status ({cause_of(exc)}, "
                f"{len(attempts)} attempts in all); it may finish and be billed: resume it later",
                request_id=rid,
                details={"phase": "status"},
            ) from exc
        finally:
            polls.extend(attempts)

    async def _result(self, url: str, rid: str, polls: list[int]) -> Reply:
        """The result of a completed request; a 400 or 422 is the model's error (returned)."""
        attempts: list[int] = []
        try:
            return await self.http().get(
                url,
                what=f"result of request {rid}",
                max_body=SMALL_BODY,
                attempts=attempts,
                request_id=rid,
                accepted="result",
                tolerate=lambda r: r.status_code in (400, 422),
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise self.http().not_obtained(
                rid, f"its result could not be read ({cause_of(exc)}, {len(attempts)} attempts)"
            ) from exc
        finally:
            polls.extend(attempts)

    async def _failed_result(self, url: str, rid: str) -> httpx.Response | None:
        """The result answer of a request fal completed with an error (its details), if it
        can be read."""
        try:
            reply = await self.http().get(
                url,
                what=f"result of request {rid}",
                max_body=SMALL_BODY,
                request_id=rid,
                tolerate=lambda r: r.status_code != 429,
            )
        except ProviderError:
            return None
        return reply.response

    async def _download(self, url: str, rid: str) -> bytes:
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
            raise self.http().not_obtained(
                rid,
                f"the video could not be downloaded from {redact_url(url)} ({cause_of(exc)}, "
                f"{len(attempts)} attempts in all)",
            ) from exc
        return reply.body

    def _build(
        self,
        request: VideoRequest,
        video: bytes,
        rid: str,
        result: dict[str, Any],
        timings: Timings,
        meta: dict[str, Any],
    ) -> ProviderResult:
        seed, source = request.seed, "request"
        reported = result.get("seed")
        if (
            isinstance(reported, int)
            and not isinstance(reported, bool)
            and 0 <= reported <= SEED_MAX
        ):
            seed, source = reported, "host"
        used = result.get("prompt")
        rewritten = isinstance(used, str) and used.strip() and used != request.prompt
        key = self._api_key()
        metadata = {
            "provider": "fal",
            "model": self.config.model,
            "host_model": self.host_model,
            "base_url": redact_url(self.base_url),
            "request_id": rid,
            "seed_source": source,
            "bytes": len(video),
            "auto_fix": self.config.auto_fix,
            "response": redact_json(result, key),
            **meta,
        }
        if rewritten:
            metadata["prompt_used"] = used
        return ProviderResult(
            video=video,
            seed=seed,
            request_id=rid,
            cost=None,  # fal's result does not say; the price table does
            timings=timings,
            metadata=metadata,
        )
