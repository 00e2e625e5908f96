"""The ``vertex`` provider: Veo on Google's Vertex AI, over httpx (not through an SDK).

    import asyncio
    from veolab.providers import get_provider
    prov = get_provider("vertex", {"model": "veo-3.1-fast", "project": "my-project"})
    result = asyncio.run(prov.generate(VideoRequest(prompt="calm sea", resolution="720p",
        duration=4)))

The flow: ``POST .../publishers/google/models/{model}:predictLongRunning`` names an operation
(the job id: ``on_submitted`` gets it, :meth:`VertexProvider.resume` picks it up again), then
``POST .../{model}:fetchPredictOperation {"operationName": ...}`` with backoff until ``done``;
the first of the answer's ``videos[]`` is decoded from ``bytesBase64Encoded`` or downloaded
from its ``gcsUri`` (when ``storage_uri`` is set: a gs:// object read through the storage API
with the same token). An output the host's safety system filtered out
(``raiMediaFilteredCount`` and no video) is a :class:`~veolab.errors.FilteredError` with
Google's reasons. See docs/hosts.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from veolab.errors import (
    ConfigError,
    FilteredError,
    GenerationFailedError,
    InvalidOutputError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
)
from veolab.providers._http.client import Reply
from veolab.providers._http.limiter import Limiter, shared_limiter
from veolab.providers._http.redact import redact_json, redact_url, scrub
from veolab.providers._http.verify import verify_mp4
from veolab.providers.base import Provider, ProviderConfig, ProviderResult, Timings
from veolab.providers.capabilities import ModelCaps
from veolab.providers.capabilities import price as caps_price
from veolab.providers.phase import report_phase
from veolab.providers.vertex.auth import Credentials, project_and_location
from veolab.providers.vertex.body import request_body
from veolab.providers.vertex.client import VertexHTTP
from veolab.providers.vertex.config import VertexConfig
from veolab.providers.vertex.http import not_obtained
from veolab.providers.vertex.models import VERTEX
from veolab.request import VideoRequest

BASE_URL_ENV = "VEOLAB_VERTEX_BASE_URL"
STORAGE_URL_ENV = "VEOLAB_VERTEX_STORAGE_URL"
GOOGLE_STORAGE = "https://storage.googleapis.com"
API_VERSION = "v1"
SMALL_BODY = 4 << 20  # an answer without an inline video
UNREADABLE_READS = 3  # answers of an operation that cannot be read, in a row, before giving up
# words of a done operation's error that say the safety system refused it
_SAFETY_WORDS = ("responsible ai", "usage guidelines", "safety", "sensitive words", "rai ")


def _cause(exc: ProviderError) -> str:
    cause = exc.__class__.__name__
    if isinstance(exc, ProviderHTTPError):
        cause += f" {exc.status_code}"
    return cause


def resolve_base_url(configured: str | None, location: str) -> str:
    """``configured``, else $VEOLAB_VERTEX_BASE_URL, else the region's Vertex AI endpoint."""
    default = (
        "https://aiplatform.googleapis.com"
        if location == "global"
        else f"https://{location}-aiplatform.googleapis.com"
    )
    url = (configured or os.environ.get(BASE_URL_ENV) or default).strip().rstrip("/")
    if url.endswith(f"/{API_VERSION}"):
        url = url[: -len(API_VERSION) - 1]
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"Vertex AI base URL {url!r} must start with http:// or https:// "
            f"(check --base-url or {BASE_URL_ENV})"
        )
    return url


def _is_google(url: str) -> bool:
    host = httpx.URL(url).host
    return host == "googleapis.com" or host.endswith(".googleapis.com")


class VertexProvider(Provider):
    """Veo 3.1 and 3 (and their fast tiers) on Vertex AI; paid, needs a Google token."""

    name: ClassVar[str] = "vertex"
    needs_key: ClassVar[bool] = False  # a token or default credentials: checked by check_ready
    key_env_var: ClassVar[str | None] = "VEOLAB_VERTEX_TOKEN"
    paid: ClassVar[bool] = True
    config_class: ClassVar[type[ProviderConfig]] = VertexConfig
    capabilities: ClassVar[Mapping[str, ModelCaps]] = VERTEX
    models: ClassVar[tuple[str, ...]] = tuple(VERTEX)
    prices: ClassVar[Mapping[str, Mapping[str, float]]] = {
        m: {k: row.usd_per_second[k] for k in ("audio", "no_audio")} for m, row in VERTEX.items()
    }
    typical_seconds: ClassVar[Mapping[str, float]] = {
        m: row.typical_seconds for m, row in VERTEX.items()
    }
    config: VertexConfig

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(config)
        self.credentials = Credentials(self.config.api_key)
        self._transport = transport
        self._limiter = limiter
        self._http: VertexHTTP | None = None
        self._where: tuple[str, str, str, str] | None = None

    # -- what a plan and a rerun need to know ---------------------------------------------

    @classmethod
    def seed_holds(cls, config: ProviderConfig) -> str | None:
        """None when ``config`` lets a seed reproduce a video, else why it does not."""
        reasons = []
        if getattr(config, "sample_count", 1) > 1:
            reasons.append(f"sample_count {config.sample_count} (sampleCount > 1)")  # type: ignore[attr-defined]
        if getattr(config, "enhance_prompt", False):
            reasons.append("enhance_prompt on (Vertex rewrites the prompt)")
        if not reasons:
            return None
        return f"vertex {' and '.join(reasons)}: {VERTEX[cls.models[0]].seed_note}"

    @classmethod
    def seed_refused(cls, config: ProviderConfig) -> str | None:
        """A seed with ``sample_count > 1`` names no one video: refused when the plan is made."""
        n = getattr(config, "sample_count", 1)
        if n > 1:
            return f"a seed with vertex sample_count {n} (a seed holds only with sampleCount 1)"
        return None

    @classmethod
    def output_params(cls, config: ProviderConfig) -> dict[str, Any]:
        """The settings of ``config`` that change the output: logged with each run."""
        assert isinstance(config, VertexConfig)
        return {
            "vertex.sample_count": config.sample_count,
            "vertex.enhance_prompt": config.enhance_prompt,
            "vertex.person_generation": config.person_generation or "default",
        }

    def check_ready(self) -> None:
        """A token or default credentials, and a project, before any request."""
        self.credentials.check()
        project_and_location(self.config.project, self.config.location, self.credentials)
        self.where()

    # -- setup ----------------------------------------------------------------------------

    def where(self) -> tuple[str, str, str, str]:
        """(base URL, storage URL, project, location), resolved once."""
        if self._where is None:
            project, location = project_and_location(
                self.config.project, self.config.location, self.credentials
            )
            base = resolve_base_url(self.config.base_url, location)
            storage = self.config.storage_base_url or os.environ.get(STORAGE_URL_ENV)
            storage = (storage or (GOOGLE_STORAGE if _is_google(base) else base)).rstrip("/")
            self._where = (base, storage, project, location)
        return self._where

    @property
    def host_model(self) -> str:
        return VERTEX[self.config.model].host_model

    def resource(self) -> str:
        """``projects/{p}/locations/{loc}/publishers/google/models/{model}``."""
        _, _, project, location = self.where()
        return f"projects/{project}/locations/{location}/publishers/google/models/{self.host_model}"

    def http(self) -> VertexHTTP:
        if self._http is None:
            base, storage, _, _ = self.where()
            self._http = VertexHTTP(self.config, [base, storage], transport=self._transport)
        return self._http

    @property
    def limiter(self) -> Limiter:
        """The limiter in use: given, else the one shared by this endpoint, project and limits."""
        if self._limiter is None:
            base, _, project, _ = self.where()
            self._limiter = shared_limiter(
                f"{base}|{project}|{self.host_model}",
                max_in_flight=self.config.max_in_flight,
                submits_per_minute=self.config.submits_per_minute,
            )
        return self._limiter

    async def _authorize(self) -> None:
        self.http().set_token(await self.credentials.token())

    def _secret(self) -> str | None:
        return self.credentials.current()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # -- generate / resume ------------------------------------------------------------------

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video. ``on_submitted(operation_name)`` is called as soon as Vertex names
        the operation, before any poll; an exception it raises propagates and leaves the
        operation for :meth:`resume`."""
        body = request_body(request, self.config)  # a refused image fails before anything
        self.check_ready()
        base = self.where()[0]
        async with self.limiter.slot():
            await self._authorize()
            t0 = time.perf_counter()
            attempts: list[int] = []
            reply = await self.http().submit(
                f"{base}/{API_VERSION}/{self.resource()}:predictLongRunning",
                body,
                what=f"submit to {self.host_model}",
                permit=self.limiter.submit_permit,
                attempts=attempts,
                max_body=SMALL_BODY,
            )
            operation = self._accepted(reply)
            if on_submitted is not None:
                on_submitted(operation)
            meta = {"submit_attempts": len(attempts), "sent": self._sent(body)}
            return await self._follow(request, operation, t0, meta)

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Poll an operation Vertex already accepted, by its name; nothing is resubmitted."""
        self.check_ready()
        async with self.limiter.slot():
            await self._authorize()
            meta = {"resumed": True, "submit_attempts": 0}
            return await self._follow(request, request_id, time.perf_counter(), meta)

    def _accepted(self, reply: Reply) -> str:
        data = reply.json()
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or "/operations/" not in name:
            raise OutcomeUnknownError(
                f"Vertex AI submit to {self.host_model} answered {reply.response.status_code} "
                "without an operation name; the operation may exist and be billed; do not "
                "resubmit blindly",
                details={"body": str(redact_json(data, self._secret()))[:300]},
            )
        return name

    def _sent(self, body: dict[str, Any]) -> Any:
        return redact_json(body, self._secret())

    # -- polling ----------------------------------------------------------------------------

    async def _follow(
        self, request: VideoRequest, operation: str, t0: float, meta: dict[str, Any]
    ) -> ProviderResult:
        """Fetch the operation until it is done, then take its first video.

        From here on the operation is Vertex's: it failed (GenerationFailedError, or
        FilteredError when the safety system refused it), its state is unknown (reads that keep
        failing, job_timeout: OutcomeUnknownError, resume later), or its video could not be
        obtained (OutputNotObtainedError: fetched again on the next run).
        """
        cfg = self.config
        base = self.where()[0]
        resource = operation.rpartition("/operations/")[0] or self.resource()
        url = f"{base}/{API_VERSION}/{resource}:fetchPredictOperation"
        interval, deadline = cfg.poll_interval, t0 + cfg.job_timeout
        reads: list[int] = []
        unreadable = 0
        while True:
            await self._authorize()
            reply = await self._read(url, operation, reads)
            data = reply.json()
            if isinstance(data, dict) and data.get("done") is True:
                break
            if isinstance(data, dict) and data.get("name"):
                unreadable = 0
            else:
                unreadable += 1
                if unreadable >= UNREADABLE_READS:
                    raise not_obtained(
                        operation,
                        f"its state could not be read {unreadable} times in a row (not a JSON "
                        "operation)",
                        completed=False,
                        secret=self._secret(),
                    )
            if time.perf_counter() + interval > deadline:
                raise OutcomeUnknownError(
                    f"Vertex AI operation {operation} is still running after "
                    f"{cfg.job_timeout:.0f} s (job_timeout); it may finish and be billed: "
                    "resume it later",
                    request_id=operation,
                    details={"phase": "poll"},
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, cfg.poll_max_interval)
        t_done = time.perf_counter()
        if data.get("error"):
            raise self._failed(operation, data["error"])
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        videos = [v for v in response.get("videos") or [] if isinstance(v, dict)]
        filtered = response.get("raiMediaFilteredCount") or 0
        reasons = [str(r) for r in response.get("raiMediaFilteredReasons") or []]
        if not videos and (filtered or reasons):
            raise FilteredError(
                f"Vertex AI operation {operation}: the output was filtered by the host's "
                f"safety system ({filtered or len(reasons)} filtered: "
                f"{'; '.join(reasons) or 'no reason given'}); not billed; change the prompt "
                "or the images",
                request_id=operation,
                reasons=reasons,
            )
        if not videos:
            raise not_obtained(
                operation, "its answer held no video (no videos[])", secret=self._secret()
            )
        report_phase("downloading")
        video, source = await self._video(videos[0], operation)
        t_end = time.perf_counter()
        timings = Timings(
            queued=0.0,
            generating=t_done - t0,
            downloading=t_end - t_done,
            total=t_end - t0,
        )
        meta |= {
            "provider": "vertex",
            "model": self.config.model,
            "host_model": self.host_model,
            "base_url": redact_url(self.where()[0]),
            "operation": operation,
            "reads": len(reads),
            "output": source,
            "videos": len(videos),
            "filtered": filtered,
            "filtered_reasons": reasons,
            "token_source": self.credentials.source,
            "seed_source": "request",
            "bytes": len(video),
            "response": _summary(response, self._secret()),
        }
        # one video is priced by the plan's estimate; more were asked for and each is billed
        cost = (
            caps_price(VERTEX[self.config.model], request) * len(videos)
            if self.config.sample_count > 1
            else None
        )
        return ProviderResult(
            video=video,
            seed=request.seed,
            request_id=operation,
            cost=cost,
            timings=timings,
            metadata=meta,
        )

    async def _read(self, url: str, operation: str, reads: list[int]) -> Reply:
        """One fetchPredictOperation, retried; what its failures mean for the operation."""
        attempts: list[int] = []
        try:
            return await self.http().read(
                url,
                {"operationName": operation},
                what=f"fetch of operation {operation}",
                max_body=self.config.max_download_bytes,
                attempts=attempts,
                operation=operation,
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise OutcomeUnknownError(
                f"Vertex AI operation {operation}: could not read its state ({_cause(exc)}, "
                f"{len(attempts)} attempts in all); it may finish and be billed: resume it later",
                request_id=operation,
                details={"phase": "poll"},
            ) from exc
        except ProviderHTTPError as exc:
            raise not_obtained(
                operation,
                f"its state was refused ({exc.status_code}: {exc})",
                completed=False,
                secret=self._secret(),
            ) from exc
        finally:
            reads.extend(attempts)

    def _failed(self, operation: str, error: Any) -> GenerationFailedError:
        error = error if isinstance(error, dict) else {"message": str(error)}
        text = scrub(" ".join(str(error.get("message") or "no reason given").split()), None)
        text = text[:300]
        code = error.get("code")
        if any(word in text.lower() for word in _SAFETY_WORDS):
            return FilteredError(
                f"Vertex AI operation {operation}: refused by the host's safety system "
                f"(code {code}: {text}); not billed; change the prompt or the images",
                request_id=operation,
                reasons=[text],
            )
        return GenerationFailedError(
            f"Vertex AI operation {operation} failed (code {code}: {text}); not billed; change "
            "the prompt or parameters and try again",
            request_id=operation,
        )

    # -- the video --------------------------------------------------------------------------

    async def _video(self, item: dict[str, Any], operation: str) -> tuple[bytes, str]:
        """The verified MP4 of one ``videos[]`` item and where it came from; anything that keeps
        it from being a video is OutputNotObtainedError (the operation is done and billed)."""
        try:
            if isinstance(item.get("bytesBase64Encoded"), str):
                try:
                    video = base64.b64decode(item["bytesBase64Encoded"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidOutputError("the inline video is not valid base64") from exc
                source, what = "base64", "the inline (base64) video"
            elif isinstance(item.get("gcsUri"), str):
                video = await self._download(item["gcsUri"], operation)
                source, what = f"gcs:{item['gcsUri']}", "the downloaded video"
            else:
                raise not_obtained(
                    operation, "its video held neither bytesBase64Encoded nor a gcsUri"
                )
            verify_mp4(video, max_bytes=self.config.max_download_bytes, what=what)
        except InvalidOutputError as exc:
            raise not_obtained(operation, str(exc), secret=self._secret()) from exc
        return video, source

    def gcs_url(self, uri: str) -> str:
        """The storage API URL that reads gs://bucket/object (``?alt=media``)."""
        bucket, _, obj = uri.removeprefix("gs://").partition("/")
        return f"{self.where()[1]}/storage/v1/b/{bucket}/o/{quote(obj, safe='')}?alt=media"

    async def _download(self, uri: str, operation: str) -> bytes:
        if not uri.startswith("gs://"):
            raise not_obtained(operation, f"its video is at {redact_url(uri)}, not a gs:// URI")
        attempts: list[int] = []
        await self._authorize()
        try:
            reply = await self.http().download(
                self.gcs_url(uri),
                what="video download",
                max_body=self.config.max_download_bytes,
                attempts=attempts,
                operation=operation,
            )
        except (ServerError, ProviderConnectionError, RateLimitError) as exc:
            raise not_obtained(
                operation,
                f"{uri} could not be downloaded ({_cause(exc)}, {len(attempts)} attempts)",
            ) from exc
        except ProviderHTTPError as exc:
            raise not_obtained(
                operation,
                f"{uri} was refused ({exc.status_code}): the token needs read access to the bucket",
                secret=self._secret(),
            ) from exc
        return reply.body


def _summary(response: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """The operation's response without the video bytes (for metadata)."""
    out = {k: v for k, v in response.items() if k != "videos"}
    out["videos"] = [
        {k: v for k, v in item.items() if k != "bytesBase64Encoded"}
        for item in response.get("videos") or []
        if isinstance(item, dict)
    ]
    return redact_json(out, secret)
