"""The Veo request model: the single source of truth for every later stage.

    >>> req = VideoRequest(prompt="a red fox running", resolution="720p", duration=4, seed=7)
    >>> req.geometry()
    Geometry(width=1280, height=720, fps=24, frames=96)
    >>> len(req.request_hash())
    64

``canonical_json()`` has sorted keys, no secrets, and images by content hash; ``request_hash()``
is its sha256: equal requests give equal hashes, any change to a parameter or an image byte
changes it. It is the key later stages use to never pay twice (with the host and the model:
the ledger's, the store's and MLflow's key is ``provider/model/request_hash``). A parameter added
later with a default of None (``fps``) is left out of the request while unset
(:data:`UNSET_OMITTED`), so the hash of every request made before it stays the same.

Veo's generic rules (1080p and 4k need 8 s, reference images need 16:9 and 8 s...) are checked
here; what one model on one host offers (4k, fps 30, 1:1) is its row in the capability table
(:mod:`veolab.providers.capabilities`), checked per (host, model) when a plan is built.

The model's fields are the one list of Veo's parameters: :data:`API_FIELDS` (and
:data:`IMAGE_FIELDS`, :data:`LIST_FIELDS`) derive from it, and so do the plan's sweepable
params, the hashed identity, a host's request body, the MLflow params and a rerun's rebuild
(:meth:`VideoRequest.api_values`). A new parameter is one field here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from veolab.errors import ImageReferenceError, RequestError
from veolab.images import ImageRef

SEED_MAX = 4_294_967_295
FPS = 24  # Veo's frame rate unless a request asks for another (veo-3: 30)

#: the height of a landscape frame (the width of a portrait one) per resolution
_SHORT_SIDE = {"720p": 720, "1080p": 1080, "4k": 2160}
_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "4:3": (4, 3), "3:4": (3, 4), "1:1": (1, 1)}
#: the parameters added after requests were first hashed: left out of a request while None
UNSET_OMITTED = ("fps",)


class Geometry(NamedTuple):
    """The expected output: size, frame rate and frame count."""

    width: int
    height: int
    fps: int
    frames: int


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """Width and height of a Veo frame: the short side is the resolution's (720, 1080, 2160).

    >>> frame_size("720p", "16:9"), frame_size("1080p", "3:4"), frame_size("4k", "9:16")
    ((1280, 720), (1080, 1440), (2160, 3840))
    """
    short = _SHORT_SIDE[resolution]
    a, b = _RATIOS[aspect_ratio]
    if a >= b:
        return short * a // b, short
    return short, short * b // a


def expected_geometry(
    resolution: str, aspect_ratio: str, duration: int, fps: int | None = None
) -> Geometry:
    """Veo's output geometry for a setting (24 fps unless ``fps``; fps x duration frames)."""
    w, h = frame_size(resolution, aspect_ratio)
    rate = fps or FPS
    return Geometry(w, h, rate, rate * int(duration))


class VideoRequest(BaseModel):
    """The 11 parameters of a Veo generation, validated before any money is spent.

    ``veo_rules=False`` turns off Veo's documented combination rules (a host may relax them);
    the type and range checks always stay. ``base_dir`` resolves relative image paths.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    prompt: str
    negative_prompt: str | None = None
    aspect_ratio: Literal["16:9", "9:16", "4:3", "1:1", "3:4"] = "16:9"
    duration: Literal[4, 6, 8] = 8
    resolution: Literal["720p", "1080p", "4k"] = "1080p"
    generate_audio: bool = True
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX)
    image: ImageRef | None = None
    last_frame: ImageRef | None = None
    reference_images: list[ImageRef] = Field(default_factory=list, max_length=3)
    fps: Literal[24, 30] | None = None  # None: the host's (24)
    veo_rules: bool = Field(default=True, exclude=True)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("negative_prompt")
    @classmethod
    def _blank_negative_is_none(cls, v: str | None) -> str | None:
        return v if v and v.strip() else None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_int(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().rstrip("s").isdigit():
            return int(v.strip().rstrip("s"))
        return v

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution_case(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) and v.lower() == "4k" else v

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_int(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"must be an integer (got {v})")
        return v

    @field_validator("image", "last_frame", mode="before")
    @classmethod
    def _one_image(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None or isinstance(v, ImageRef):
            return v
        base = (info.context or {}).get("base_dir")
        return ImageRef.parse(v, base_dir=base)

    @field_validator("reference_images", mode="before")
    @classmethod
    def _many_images(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return []
        if isinstance(v, str | ImageRef):
            v = [v]
        base = (info.context or {}).get("base_dir")
        return [x if isinstance(x, ImageRef) else ImageRef.parse(x, base_dir=base) for x in v]

    @field_serializer("image", "last_frame")
    def _dump_image(self, ref: ImageRef | None) -> str | None:
        # as given (URL, data URI or path), so ``VideoRequest.build(**req.model_dump())``
        # round-trips; identity() is the form with content hashes
        return ref.value if ref is not None else None

    @field_serializer("reference_images")
    def _dump_images(self, refs: list[ImageRef]) -> list[str]:
        return [r.value for r in refs]

    @model_validator(mode="after")
    def _veo_rules(self) -> VideoRequest:
        if not self.veo_rules:
            return self
        problems = []
        if self.resolution in ("1080p", "4k") and self.duration != 8:
            problems.append(
                f"resolution {self.resolution} requires duration 8 (got duration "
                f"{self.duration}): use --duration 8 or --resolution 720p"
            )
        if self.reference_images:
            if self.aspect_ratio != "16:9" or self.duration != 8:
                problems.append(
                    "reference_images require aspect_ratio 16:9 and duration 8 "
                    f"(got aspect_ratio {self.aspect_ratio}, duration {self.duration})"
                )
            if self.image is not None or self.last_frame is not None:
                problems.append(
                    "reference_images cannot be combined with image or last_frame: drop one of them"
                )
        if self.last_frame is not None and self.image is None:
            problems.append("last_frame requires image (a first frame): add --image")
        if problems:
            raise ValueError(
                "; ".join(problems) + " (Veo 3.1 rules; --no-veo-rules turns them off)"
            )
        return self

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(cls, base_dir: Path | str | None = None, **fields: Any) -> VideoRequest:
        """Validate ``fields`` into a request, turning any problem into a one-line RequestError."""
        try:
            return cls.model_validate(
                fields, context={"base_dir": Path(base_dir) if base_dir else None}
            )
        except ImageReferenceError:
            raise
        except ValidationError as exc:
            raise RequestError(format_validation_error(exc)) from exc

    def with_seed(self, seed: int) -> VideoRequest:
        return self.model_copy(update={"seed": seed})

    # -- identity -----------------------------------------------------------------------

    def api_values(self, image: Callable[[ImageRef], Any] = lambda ref: ref) -> dict[str, Any]:
        """Every API field by name, in :data:`API_FIELDS` order; each image through ``image``
        (a list of images stays a list, a missing image stays None). A field of
        :data:`UNSET_OMITTED` left at None is not there at all (so old hashes hold)."""
        out: dict[str, Any] = {}
        for name in API_FIELDS:
            value = getattr(self, name)
            if value is None and name in UNSET_OMITTED:
                continue
            if name in IMAGE_FIELDS:
                if isinstance(value, list):
                    value = [image(ref) for ref in value]
                elif value is not None:
                    value = image(value)
            out[name] = value
        return out

    def images(self) -> Iterator[tuple[str, str, ImageRef]]:
        """(field, name, image) for every image given: the name is the field, or for a list
        ``reference_<i>`` (the stem of the ``inputs/`` artifact of a logged run)."""
        for name in IMAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, list):
                yield from ((name, image_name(name, i), ref) for i, ref in enumerate(value))
            elif value is not None:
                yield name, image_name(name), value

    def identity(self) -> dict[str, Any]:
        """The request as plain data: images by content hash, no secrets, no local paths."""
        return self.api_values(lambda ref: ref.identity())

    def canonical_json(self) -> str:
        """Sorted keys, compact separators, UTF-8 text: the hashed form of the request."""
        return json.dumps(
            self.identity(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def request_hash(self) -> str:
        """sha256 hex of ``canonical_json()``."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def to_record(self) -> dict[str, Any]:
        """What `request.json` holds: the identity plus readable image sources (no secrets)."""
        rec = self.identity()
        described = self.api_values(lambda ref: ref.describe())
        rec["image_sources"] = {name: described[name] for name in IMAGE_FIELDS}
        rec["veo_rules"] = self.veo_rules
        rec["request_hash"] = self.request_hash()
        return rec

    def geometry(self) -> Geometry:
        return expected_geometry(self.resolution, self.aspect_ratio, self.duration, self.fps)


def _holds_images(annotation: Any) -> bool:
    return annotation is ImageRef or any(_holds_images(a) for a in get_args(annotation))


#: the parameters sent to a host, in order (``veo_rules`` is veolab's, not the API's)
API_FIELDS: tuple[str, ...] = tuple(
    name for name, f in VideoRequest.model_fields.items() if not f.exclude
)
#: the parameters that hold images (ImageRef), and those that hold a list of values
IMAGE_FIELDS: tuple[str, ...] = tuple(
    name for name in API_FIELDS if _holds_images(VideoRequest.model_fields[name].annotation)
)
LIST_FIELDS: tuple[str, ...] = tuple(
    name
    for name in API_FIELDS
    if getattr(VideoRequest.model_fields[name].annotation, "__origin__", None) is list
)


def image_name(field: str, index: int | None = None) -> str:
    """The name of an image of ``field``: the field, or ``reference_<index>`` in a list."""
    return field if index is None else f"{field.removesuffix('_images')}_{index}"


def format_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field and what is allowed."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = describe_error(err)
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def describe_error(err: Any) -> str:
    """What one pydantic error says, in veolab's words (without the field's name)."""
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "literal_error":
        got = err.get("input")
        msg = f"{msg} (got {got!r})"
    elif err.get("type") == "too_long":
        ctx = err.get("ctx") or {}
        msg = f"at most {ctx.get('max_length')} allowed (got {ctx.get('actual_length')})"
    elif err.get("type") == "extra_forbidden":
        msg = "unknown field"
    return msg
