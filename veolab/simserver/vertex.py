"""Vertex AI's Veo protocol in front of the simulator: its routes, bodies and errors.

Routes (``Authorization: Bearer <key>`` required when the server has a key; ``{v}`` is ``v1``
or ``v1beta1``, the version google-genai sends)::

    POST /{v}/projects/{p}/locations/{loc}/publishers/google/models/{model}:predictLongRunning
         {"instances": [...], "parameters": {...}} -> {"name": "<resource>/operations/<id>"}
    POST /{v}/projects/{p}/locations/{loc}/publishers/google/models/{model}:fetchPredictOperation
         {"operationName": ...} -> {"name"} while running; {"name", "done": true, "response":
         {"@type", "raiMediaFilteredCount", "videos": [{"bytesBase64Encoded" | "gcsUri",
         "mimeType"}]}} when done, or {"name", "done": true, "error": {"code", "message"}}
    GET  /storage/v1/b/{bucket}/o/{object}?alt=media   a video written under ``storageUri``
    POST /token                                        an OAuth token endpoint for
         application default credentials whose ``token_uri`` points here: it hands out the
         server's key (tests only: a stand-in for oauth2.googleapis.com)

Models are Vertex's ids (``veo-3.1-generate-001``, ...: :data:`veolab.providers.vertex.VERTEX`);
a request that breaks the model's capability row is a 400. Errors are Google's
``{"error": {"code", "message", "status"}}``. The credits, faults (routes ``submit``,
``status``, ``file``), latency, rate limit and billing ledger are the server's, shared with
every host: a job is billed at Vertex's price per second times ``sampleCount`` when it
succeeds; running out of credits is Vertex's 403 (billing disabled).

A filtered output: a prompt holding ``[sim:filter]`` comes back done with no video,
``raiMediaFilteredCount`` 1 and a reason in Google's words (not billed); a ``fail`` fault on
``submit`` ends the operation with an ``error`` (code 13) instead.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import urllib.parse
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from veolab.errors import ImageReferenceError
from veolab.images import ImageRef
from veolab.providers.capabilities import price, problems
from veolab.providers.vertex.models import BY_HOST_MODEL, VERTEX
from veolab.request import VideoRequest, format_validation_error
from veolab.simserver.config import Fault
from veolab.simserver.faults import FaultInjector, page
from veolab.simserver.state import Job, Rejected, SimState

#: a prompt holding this comes back filtered by the (simulated) safety system
FILTER_WORD = "[sim:filter]"
FILTER_REASON = (
    "Veo could not generate videos because the input prompt violates Vertex AI's usage "
    "guidelines. Try rephrasing the prompt. Support codes: 29310472"
)
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
VERSIONS = ("v1", "v1beta1")
GRANTS = ("refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MODEL_PATH = "/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}"
_INSTANCE_KEYS = {"prompt", "image", "lastFrame", "referenceImages"}
_PARAMETER_KEYS = {
    "aspectRatio",
    "durationSeconds",
    "resolution",
    "negativePrompt",
    "personGeneration",
    "sampleCount",
    "seed",
    "generateAudio",
    "storageUri",
    "enhancePrompt",
    "fps",
    "compressionQuality",
    "resizeMode",
    "pubsubTopic",
}
_PERSON = ("allow_adult", "dont_allow", "allow_all")


def error(
    status: int, message: str, headers: dict[str, str] | None = None, body: str = "json"
) -> Response:
    """Google's error answer (``body="html"`` or ``"text"``: a page from a proxy in front)."""
    if body != "json":
        return page(status, message, headers, body)
    payload = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    return JSONResponse({"error": payload}, status, headers=headers)


def routes(state: SimState) -> list[BaseRoute]:
    """Vertex AI's routes over ``state``, each behind the state's faults."""
    host = Vertex(state)
    faults = FaultInjector(state, error)
    return [
        faults.route(f"{_MODEL_PATH}:predictLongRunning", "submit", host.predict, ["POST"]),
        faults.route(f"{_MODEL_PATH}:fetchPredictOperation", "status", host.fetch, ["POST"]),
        faults.route("/storage/v1/b/{bucket}/o/{name:path}", "file", host.gcs_object, ["GET"]),
        Route("/token", host.token, methods=["POST"]),
    ]


def _resource(request: Request) -> str:
    p = request.path_params
    return (
        f"projects/{p['project']}/locations/{p['location']}/publishers/google/models/{p['model']}"
    )


class Vertex:
    """The handlers of Vertex AI's routes over one :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.config = state.config
        self.samples: dict[str, int] = {}  # job id -> sampleCount
        self.storage: dict[str, str] = {}  # job id -> storageUri
        self.filtered: set[str] = set()
        self.objects: dict[tuple[str, str], str] = {}  # (bucket, object) -> job id

    # -- the routes -------------------------------------------------------------------------

    async def predict(self, request: Request, fault: Fault | None) -> Response:
        self._check_version(request)
        self._check_key(request)
        self._take_submit()
        host_model = request.path_params["model"]
        model = BY_HOST_MODEL.get(host_model)
        if model is None:
            raise Rejected(
                404,
                f"Publisher Model `{_resource(request)}` was not found or your project does "
                "not have access to it.",
            )
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Rejected(400, "Invalid JSON payload received.") from None
        received, samples, storage = self.parse_request(data, model)
        filtered = FILTER_WORD in received.prompt
        cost = price(VERTEX[model], received) * samples
        try:
            job = self.state.create_job(
                model,
                "queue",
                received,
                fail=filtered or bool(fault and fault.kind == "fail"),
                cost=cost,
            )
        except Rejected as exc:
            if exc.status in (402, 406):
                raise Rejected(
                    403,
                    f"This API method requires billing to be enabled ({exc.message}).",
                ) from exc
            raise
        self.samples[job.id] = samples
        if storage:
            self.storage[job.id] = storage
        if filtered:
            self.filtered.add(job.id)
        self.state.start(job)
        return JSONResponse({"name": f"{_resource(request)}/operations/{job.id}"})

    async def fetch(self, request: Request, fault: Fault | None) -> Response:
        self._check_version(request)
        self._check_key(request)
        try:
            data = json.loads(await request.body())
            name = data["operationName"]
            assert isinstance(name, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise Rejected(400, 'Body must be {"operationName": "<operation name>"}') from None
        prefix = f"{_resource(request)}/operations/"
        job = self.state.jobs.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
        if job is None:
            raise Rejected(404, f"Operation {name} was not found.")
        return JSONResponse(self.operation(name, job))

    async def gcs_object(self, request: Request, fault: Fault | None) -> Response:
        self._check_key(request)
        key = (request.path_params["bucket"], request.path_params["name"])
        job = self.state.jobs.get(self.objects.get(key, ""))
        if job is None or job.video is None:
            raise Rejected(404, f"No such object: {key[0]}/{key[1]}")
        if request.query_params.get("alt") != "media":
            return JSONResponse(
                {"bucket": key[0], "name": key[1], "size": str(len(job.video))},
                headers={"x-request-id": job.id},
            )
        return Response(job.video, media_type="video/mp4", headers={"x-request-id": job.id})

    async def token(self, request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type", [""])[0] not in GRANTS:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        return JSONResponse(
            {
                "access_token": self.config.api_key or "sim-access-token",
                "expires_in": 3599,
                "token_type": "Bearer",
            }
        )

    # -- answers ----------------------------------------------------------------------------

    def operation(self, name: str, job: Job) -> dict[str, Any]:
        """The operation as fetchPredictOperation returns it."""
        if job.status not in ("COMPLETED", "FAILED"):
            return {"name": name}
        if job.status == "FAILED" and job.id in self.filtered:
            response: dict[str, Any] = {
                "@type": RESPONSE_TYPE,
                "raiMediaFilteredCount": self.samples.get(job.id, 1),
                "raiMediaFilteredReasons": [FILTER_REASON],
            }
            return {"name": name, "done": True, "response": response}
        if job.status == "FAILED":
            error = {"code": 13, "message": job.error or "Video generation failed."}
            return {"name": name, "done": True, "error": error}
        assert job.video is not None
        videos = []
        for i in range(self.samples.get(job.id, 1)):
            if job.id in self.storage:
                bucket, _, prefix = self.storage[job.id].removeprefix("gs://").partition("/")
                folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
                obj = f"{folder}{job.id}/sample_{i}.mp4"
                self.objects[(bucket, obj)] = job.id
                videos.append({"gcsUri": f"gs://{bucket}/{obj}", "mimeType": "video/mp4"})
            else:
                encoded = base64.b64encode(job.video).decode()
                videos.append({"bytesBase64Encoded": encoded, "mimeType": "video/mp4"})
        response = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": 0, "videos": videos}
        return {"name": name, "done": True, "response": response}

    # -- checks -----------------------------------------------------------------------------

    @staticmethod
    def _check_version(request: Request) -> None:
        if request.path_params["version"] not in VERSIONS:
            raise Rejected(404, f"API version {request.path_params['version']} not found.")

    def _check_key(self, request: Request) -> None:
        if self.config.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if (
            scheme.lower() != "bearer"
            or not token
            or not hmac.compare_digest(token.encode(), self.config.api_key.encode())
        ):
            raise Rejected(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )

    def _take_submit(self) -> None:
        window = self.state.take_submit()
        if window is None or window.reset_at is None:
            return
        headers = {}
        if self.config.retry_after_header:
            headers["retry-after"] = str(max(1, int(-(-window.wait // 1))))
        raise Rejected(
            429,
            "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_"
            f"model ({window.limit} per {self.config.rate_window:g} s). Resource exhausted, "
            "please try again later.",
            headers,
        )

    # -- request bodies ---------------------------------------------------------------------

    def parse_request(self, data: Any, model: str) -> tuple[VideoRequest, int, str | None]:
        """(the request as received, sampleCount, storageUri); a 400 for anything Vertex
        would refuse, the model's capability row included."""
        instances = data.get("instances") if isinstance(data, dict) else None
        if not isinstance(instances, list) or len(instances) != 1:
            raise Rejected(400, "instances must hold exactly one instance")
        instance = instances[0]
        params = data.get("parameters") or {}
        if not isinstance(instance, dict) or not isinstance(params, dict):
            raise Rejected(400, "instances[0] and parameters must be objects")
        unknown = sorted(set(instance) - _INSTANCE_KEYS) + sorted(set(params) - _PARAMETER_KEYS)
        if unknown:
            raise Rejected(400, f"Unknown field(s): {', '.join(unknown)}")
        prompt = instance.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise Rejected(400, "instances[0].prompt is required")
        fields: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": params.get("aspectRatio", "16:9"),
            "duration": params.get("durationSeconds", 8),
            "resolution": params.get("resolution", "720p"),
            "generate_audio": params.get("generateAudio", True),
        }
        for name, key in (("negative_prompt", "negativePrompt"), ("seed", "seed"), ("fps", "fps")):
            if params.get(key) is not None:
                fields[name] = params[key]
        for name, key in (("image", "image"), ("last_frame", "lastFrame")):
            if instance.get(key) is not None:
                fields[name] = self._image(instance[key], f"instances[0].{key}")
        refs = instance.get("referenceImages")
        if refs is not None:
            if not isinstance(refs, list):
                raise Rejected(400, "referenceImages must be a list")
            for i, ref in enumerate(refs):
                kind = ref.get("referenceType") if isinstance(ref, dict) else None
                # the REST reference writes "asset"; google-genai sends the enum's "ASSET"
                if str(kind).lower() not in ("asset", "style"):
                    raise Rejected(400, f"referenceImages[{i}].referenceType must be asset")
            fields["reference_images"] = [
                self._image(r.get("image"), f"referenceImages[{i}].image")
                for i, r in enumerate(refs)
            ]
        samples = params.get("sampleCount", 1)
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 4:
            raise Rejected(400, f"sampleCount must be 1 to 4 (got {samples!r})")
        for key in ("enhancePrompt", "generateAudio"):
            if key in params and not isinstance(params[key], bool):
                raise Rejected(400, f"{key} must be a boolean")
        person = params.get("personGeneration")
        if person is not None and person not in _PERSON:
            raise Rejected(400, f"personGeneration must be one of {', '.join(_PERSON)}")
        storage = params.get("storageUri")
        if storage is not None and not (isinstance(storage, str) and storage.startswith("gs://")):
            raise Rejected(400, "storageUri must be a gs:// URI")
        if "fps" in fields and "fps" not in VideoRequest.model_fields:
            if fields.pop("fps") != 24:  # a request model without fps: Veo's 24 only
                raise Rejected(400, "fps must be 24")
        try:
            received = VideoRequest.model_validate(fields | {"veo_rules": self.config.veo_rules})
        except ImageReferenceError as exc:
            raise Rejected(400, str(exc)) from exc
        except ValidationError as exc:
            raise Rejected(400, format_validation_error(exc)) from exc
        refused = problems(VERTEX[model], received)
        if refused:
            raise Rejected(400, "; ".join(refused))
        return received, samples, storage

    @staticmethod
    def _image(value: Any, where: str) -> ImageRef:
        if not isinstance(value, dict):
            raise Rejected(400, f"{where} must be an object")
        if "gcsUri" in value:
            raise Rejected(400, f"{where}: the simulator reads no gs:// inputs (send the bytes)")
        data, mime = value.get("bytesBase64Encoded"), value.get("mimeType") or "image/png"
        if not isinstance(data, str) or not re.fullmatch(r"[\w.+-]+/[\w.+-]+", str(mime)):
            raise Rejected(400, f"{where} needs bytesBase64Encoded and a mimeType")
        try:
            return ImageRef.parse(f"data:{mime};base64,{data}")
        except ImageReferenceError as exc:
            raise Rejected(400, f"{where}: {exc}") from exc
