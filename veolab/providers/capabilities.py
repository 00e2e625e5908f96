"""What each (host, model) can do and what it costs: the capability table.

One :class:`ModelCaps` row per model a host serves. A provider declares its rows as
``capabilities`` (keyed by veolab's model name); its ``models``, ``prices`` and
``typical_seconds`` are derived from them (see :class:`veolab.providers.base.Provider`).
:func:`problems` says what a row cannot do with a request, one phrase each, and :func:`price`
is the USD of one generation: the plan, the budget and the run price every cell this way.

    >>> from veolab.request import VideoRequest
    >>> caps = SEGMIND["veo-3.1"]
    >>> problems(caps, VideoRequest(prompt="fox", resolution="720p", duration=4))
    []
    >>> price(caps, VideoRequest(prompt="fox", resolution="720p", duration=4))
    1.6
    >>> problems(SEGMIND["veo-3.1-lite"], VideoRequest(prompt="fox",
    ...     reference_images=["https://example.com/a.png"]))
    ['reference_images not offered by segmind veo-3.1-lite']

Prices change: every row names the page its price was read from and when (``price_source``,
``price_as_of``); docs/hosts.md lists every row of every installed provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veolab.request import VideoRequest

#: the price keys of a row: per second, with and without audio (and at 4k, where it differs)
PRICE_KEYS = ("audio", "no_audio", "4k_audio", "4k_no_audio")


@dataclass(frozen=True, kw_only=True)
class ModelCaps:
    """One model on one host: its parameters, rules and price per second."""

    host: str  # provider name: "segmind", "vertex", "fal", "replicate", "sim"
    model: str  # veolab's model name: "veo-3.1", "veo-3.1-fast", ...
    host_model: str  # the id on the host: "veo-3.1-generate-001", "fal-ai/veo3.1", ...
    durations: tuple[int, ...]  # seconds
    resolutions: tuple[str, ...]  # "720p", "1080p", "4k"
    aspect_ratios: tuple[str, ...]  # "16:9", "9:16" (and "1:1", "4:3", "3:4" on veo-3)
    fps: tuple[int, ...] = (24,)
    audio: bool = True  # generate_audio may be turned on and off
    image: bool = True  # a first frame
    last_frame: bool = True
    max_reference_images: int = 3  # 0: none
    negative_prompt: bool = True
    seed: bool = True
    seed_note: str = ""  # when the seed does not hold (Vertex: sampleCount > 1, enhancePrompt)
    usd_per_second: Mapping[str, float] = field(default_factory=dict)  # PRICE_KEYS
    price_source: str = ""  # URL of the page the price was read from
    price_as_of: str = ""  # "2026-11": prices change
    typical_seconds: float = 60.0  # one generation, submit to video (the plan's estimate)
    notes: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.usd_per_second) - set(PRICE_KEYS))
        if unknown:
            raise ValueError(f"{self.host} {self.model}: unknown price keys {unknown}")
        if self.usd_per_second and not {"audio", "no_audio"} <= set(self.usd_per_second):
            raise ValueError(f"{self.host} {self.model}: give both audio and no_audio prices")

    @property
    def label(self) -> str:
        """``segmind veo-3.1``: how messages name the row."""
        return f"{self.host} {self.model}"


def _offered(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def problems(caps: ModelCaps, request: VideoRequest) -> list[str]:
    """What this (host, model) cannot do with ``request``, one phrase each
    (``4k not offered by segmind veo-3.1 (720p, 1080p)``); empty when it can."""
    out: list[str] = []
    where = caps.label
    if request.duration not in caps.durations:
        out.append(
            f"duration {request.duration} not offered by {where} ({_offered(caps.durations)})"
        )
    if request.resolution not in caps.resolutions:
        out.append(f"{request.resolution} not offered by {where} ({_offered(caps.resolutions)})")
    if request.aspect_ratio not in caps.aspect_ratios:
        out.append(
            f"aspect_ratio {request.aspect_ratio} not offered by {where} "
            f"({_offered(caps.aspect_ratios)})"
        )
    fps = getattr(request, "fps", None)
    if fps is not None and fps not in caps.fps:
        out.append(f"fps {fps} not offered by {where} ({_offered(caps.fps)})")
    if not caps.audio and not request.generate_audio:
        out.append(f"generate_audio false not offered by {where} (its videos always have audio)")
    if request.image is not None and not caps.image:
        out.append(f"image (a first frame) not offered by {where}")
    if request.last_frame is not None and not caps.last_frame:
        out.append(f"last_frame not offered by {where}")
    n_refs = len(request.reference_images)
    if n_refs and not caps.max_reference_images:
        out.append(f"reference_images not offered by {where}")
    elif n_refs > caps.max_reference_images:
        out.append(
            f"{n_refs} reference_images, more than {where} takes ({caps.max_reference_images})"
        )
    if request.negative_prompt and not caps.negative_prompt:
        out.append(f"negative_prompt not offered by {where}")
    if request.seed is not None and not caps.seed:
        out.append(f"seed not offered by {where} (it picks its own)")
    return out


def per_second(caps: ModelCaps, request: VideoRequest) -> float:
    """USD per second of ``request`` on this row (the 4k rate where the row has one)."""
    rates = caps.usd_per_second
    if not rates:
        return 0.0
    kind = "audio" if request.generate_audio else "no_audio"
    if request.resolution == "4k" and f"4k_{kind}" in rates:
        return rates[f"4k_{kind}"]
    return rates[kind]


def price(caps: ModelCaps, request: VideoRequest) -> float:
    """USD for one generation of ``request`` on this row (per second x duration)."""
    return round(per_second(caps, request) * request.duration, 4)


def table(*rows: ModelCaps) -> dict[str, ModelCaps]:
    """Rows of one host keyed by model name, in order (the first is the host's default)."""
    hosts = {r.host for r in rows}
    if len(hosts) > 1:
        raise ValueError(f"one host per table (got {sorted(hosts)})")
    out: dict[str, ModelCaps] = {}
    for row in rows:
        if row.model in out:
            raise ValueError(f"{row.label} is listed twice")
        out[row.model] = row
    return out


def rehost(rows: Mapping[str, ModelCaps], host: str, **changes: Any) -> dict[str, ModelCaps]:
    """Another host's copy of ``rows`` (the simulator serves Segmind's family, free)."""
    return {model: replace(row, host=host, **changes) for model, row in rows.items()}


def price_table(rows: Mapping[str, ModelCaps]) -> dict[str, dict[str, float]]:
    """``{model: {"audio": ..., "no_audio": ...}}``: the older per-model price table."""
    return {model: dict(row.usd_per_second) for model, row in rows.items() if row.usd_per_second}


# -- the table of every installed host (docs/hosts.md) ---------------------------------------


def installed_rows(skip: tuple[str, ...] = ("sim",)) -> list[ModelCaps]:
    """Every row of every installed provider (by provider name, then in its own order), but
    ``skip``'s (the simulator copies Segmind's rows, free)."""
    from veolab.providers import available_providers, provider_class

    return [
        row
        for name in available_providers()
        if name not in skip
        for row in provider_class(name).capabilities.values()
    ]


def _usd(rates: Mapping[str, float], key: str) -> str:
    """``$0.40``, ``$0.125``; ``–`` without a rate."""
    if key not in rates:
        return "–"
    cents = f"{rates[key]:.2f}"
    return f"${cents if float(cents) == rates[key] else f'{rates[key]:g}'}"


def markdown_table(rows: Iterable[ModelCaps]) -> str:
    """The capability table of docs/hosts.md: what each (host, model) takes, then what it costs
    (per second of video, with the page and month each price was read from), then its notes."""
    rows = list(rows)

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    out = [
        "| host | model | id on the host | seconds | resolutions | aspect ratios | fps "
        "| first frame | last frame | reference images | negative prompt | seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        seed = yes(r.seed) + (" (see notes)" if r.seed_note else "")
        out.append(
            f"| `{r.host}` | `{r.model}` | `{r.host_model}` | {_offered(r.durations)} "
            f"| {_offered(r.resolutions)} | {_offered(r.aspect_ratios)} | {_offered(r.fps)} "
            f"| {yes(r.image)} | {yes(r.last_frame)} | {r.max_reference_images or 'no'} "
            f"| {yes(r.negative_prompt)} | {seed} |"
        )
    out += [
        "",
        "| host | model | USD/s with audio | without | 4k with audio | 4k without "
        "| a generation takes | price read from | as of |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        rates = r.usd_per_second
        out.append(
            f"| `{r.host}` | `{r.model}` | {_usd(rates, 'audio')} | {_usd(rates, 'no_audio')} "
            f"| {_usd(rates, '4k_audio')} | {_usd(rates, '4k_no_audio')} "
            f"| about {r.typical_seconds:g} s | <{r.price_source}> | {r.price_as_of} |"
        )
    notes = [
        f"- `{r.host}` `{r.model}`: " + "; ".join(n for n in (r.notes, r.seed_note) if n)
        for r in rows
        if r.notes or r.seed_note
    ]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


# -- Segmind: the Veo family on the v1/v2 protocol ----------------------------------------------
# Segmind lists a price range a generation (from 4 s without audio to 8 s with audio) and bills
# per second of video, with or without audio; the per-second rates below are the ones that give
# exactly the listed range (veo-3.1: $0.80 = 4 s x $0.20, $3.20 = 8 s x $0.40), the same at 720p
# and 1080p. Parameters: each model's API page.
_SEGMIND_AS_OF = "2026-11"
# veo-3 and veo-3-fast: fps 24 or 30 and three more aspect ratios; their pages list no last
# frame, reference images or negative prompt
_VEO3: dict[str, Any] = {
    "aspect_ratios": ("16:9", "4:3", "1:1", "3:4", "9:16"),
    "fps": (24, 30),
    "last_frame": False,
    "max_reference_images": 0,
    "negative_prompt": False,
}


def _segmind(
    model: str, audio: float, no_audio: float, typical_seconds: float, **changes: Any
) -> ModelCaps:
    """A Segmind row: the family's parameters, ``changes`` on top."""
    row = ModelCaps(
        host="segmind",
        model=model,
        host_model=model,
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        usd_per_second={"audio": audio, "no_audio": no_audio},
        price_source=f"https://www.segmind.com/models/{model}/api",
        price_as_of=_SEGMIND_AS_OF,
        typical_seconds=typical_seconds,
    )
    return replace(row, **changes)


SEGMIND: dict[str, ModelCaps] = table(
    _segmind("veo-3.1", 0.40, 0.20, 70.0),  # $0.80-3.20 a generation
    _segmind("veo-3.1-fast", 0.15, 0.10, 99.0),  # $0.40-1.20
    _segmind(  # $0.25-1.00
        "veo-3.1-lite",
        0.125,
        0.0625,
        50.0,
        max_reference_images=0,
        notes="no reference images (Google's lite tier: text and a first frame)",
    ),
    _segmind(  # $0.80-3.20
        "veo-3",
        0.40,
        0.20,
        150.0,
        notes="fps 24 or 30, aspect ratios 4:3, 1:1, 3:4; the first frame goes as image_url",
        **_VEO3,
    ),
    _segmind("veo-3-fast", 0.15, 0.10, 80.0, notes="as veo-3", **_VEO3),  # $0.40-1.20
)

#: the offline simulator serves Segmind's family, free, with the same rules
SIM: dict[str, ModelCaps] = rehost(
    SEGMIND, "sim", usd_per_second={}, price_source="", price_as_of="", typical_seconds=1.0
)


__all__ = [
    "PRICE_KEYS",
    "SEGMIND",
    "SIM",
    "ModelCaps",
    "installed_rows",
    "markdown_table",
    "per_second",
    "price",
    "price_table",
    "problems",
    "rehost",
    "table",
]
