"""The provider interface: turn a VideoRequest into an MP4.

A provider is a subclass of :class:`Provider` with capability attributes (``needs_key``,
``paid``, and its ``capabilities``: one :class:`~veolab.providers.capabilities.ModelCaps` row
per model, from which its ``models``, ``prices`` and ``typical_seconds`` are derived), a
pydantic ``config_class`` for its settings and one async method, :meth:`Provider.generate`.
A provider that sets ``models`` and ``prices`` itself (and no ``capabilities``) works as before:
it is priced from ``prices`` and no request is refused for its model. Built-in providers
register through the ``veolab.providers`` entry-point group, the same one a third-party
package would use::

    [project.entry-points."veolab.providers"]
    myhost = "mypkg.provider:MyHostProvider"

Settings every host shares (model, key, base URL, timeouts, jobs in flight) are
:class:`ProviderConfig`'s; a host with settings of its own subclasses it and names the subclass
in ``config_class``. :meth:`Provider.configure` validates any mapping with that class, so an
unknown or bad field is one ConfigError naming the provider and the field.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from veolab.errors import ConfigError
from veolab.providers import capabilities as caps
from veolab.providers.capabilities import ModelCaps
from veolab.request import VideoRequest, describe_error

#: USD per second of video, per model, with and without audio: {"veo-3.1": {"audio": 0.4, ...}}
PriceTable = Mapping[str, Mapping[str, float]]


def price_of(prices: PriceTable, model: str, request: VideoRequest) -> float:
    """USD for one generation from a per-second price table (with and without audio, per
    model; a model the table lacks is priced as its first). The one place a price is computed:
    providers call it through :meth:`Provider.price`."""
    table = prices.get(model) or next(iter(prices.values()))
    per_second = table["audio"] if request.generate_audio else table["no_audio"]
    return round(per_second * request.duration, 4)


def __getattr__(name: str) -> Any:
    # the local Segmind (``veolab sim serve``) still imports Segmind's tables from here
    if name in ("MODELS", "DEFAULT_PRICES"):
        from veolab.providers.segmind import provider as segmind

        return segmind.MODELS if name == "MODELS" else segmind.PRICES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ProviderConfig(BaseModel):
    """What every provider takes. Unknown fields are an error.

    ``options`` carries a provider's own settings where the generic class is used
    (``ProviderConfig(options={"latency": 2.0})`` for ``sim``); a provider's ``config_class``
    takes them as its own fields.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    model: str = ""  # empty: the provider's first model
    api_key: str | None = Field(default=None, repr=False, exclude=True)
    base_url: str | None = None
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=300.0, gt=0)
    job_timeout: float = Field(default=900.0, gt=0)
    max_in_flight: int = Field(default=4, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _own_fields_from_options(cls, data: Any) -> Any:
        """In a provider's own config class, ``options`` are its fields: lift them."""
        if cls is ProviderConfig or not isinstance(data, dict):
            return data
        options = data.get("options")
        if not options or not isinstance(options, dict):
            return data
        both = sorted(set(options) & set(data))
        if both:
            raise ValueError(f"{', '.join(both)} given both in options and on its own: keep one")
        return {k: v for k, v in data.items() if k != "options"} | options

    def dump(self) -> dict[str, Any]:
        """The fields that were set, the API key included (``model_dump`` leaves it out)."""
        data = self.model_dump(exclude_unset=True)
        if self.api_key is not None:
            data["api_key"] = self.api_key
        return data


@dataclass
class Timings:
    """Seconds spent in each phase of one generation."""

    queued: float = 0.0
    generating: float = 0.0
    downloading: float = 0.0
    total: float = 0.0


@dataclass
class ProviderResult:
    """What a generation returned: the video and everything known about how it was made."""

    video: bytes | None
    seed: int | None
    request_id: str | None = None
    cost: float | None = None  # billed by the host, USD, where it says
    remaining_credits: float | None = None
    timings: Timings = field(default_factory=Timings)
    metadata: dict[str, Any] = field(default_factory=dict)  # raw response facts, secrets removed
    path: Path | None = None

    def video_bytes(self) -> bytes:
        if self.video is not None:
            return self.video
        if self.path is not None:
            return self.path.read_bytes()
        raise ValueError("result holds no video")


class Provider(abc.ABC):
    """Base class of every provider: capabilities, models, prices and a config class."""

    name: ClassVar[str] = ""
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None
    paid: ClassVar[bool] = False
    #: the settings this provider takes: ProviderConfig, or a subclass with its own fields
    config_class: ClassVar[type[ProviderConfig]] = ProviderConfig
    #: one row per model this provider serves, keyed by veolab's model name (the first is the
    #: default): parameters, rules, price per second with its source and date
    capabilities: ClassVar[Mapping[str, ModelCaps]] = {}
    #: the model ids this provider serves; the first is the default (from ``capabilities``)
    models: ClassVar[tuple[str, ...]] = ()
    #: USD per second of video, per model, with and without audio (a paid provider's; from
    #: ``capabilities``)
    prices: ClassVar[PriceTable] = {}
    #: typical seconds one generation takes, per model (the plan's time estimate; from
    #: ``capabilities``)
    typical_seconds: ClassVar[Mapping[str, float]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        rows = cls.__dict__.get("capabilities")
        if not rows:
            return
        # what a subclass sets itself wins; the rest comes from its rows
        if "models" not in cls.__dict__:
            cls.models = tuple(rows)
        if "prices" not in cls.__dict__:
            cls.prices = caps.price_table(rows)
        if "typical_seconds" not in cls.__dict__:
            cls.typical_seconds = {model: row.typical_seconds for model, row in rows.items()}

    def __init__(self, config: ProviderConfig | Mapping[str, Any] | None = None) -> None:
        self.config = self.configure(config)

    # -- what a plan needs to know ----------------------------------------------------------

    @classmethod
    def price(cls, request: VideoRequest, model: str, overrides: PriceTable | None = None) -> float:
        """USD for one generation of ``request`` on ``model``: this provider's ``prices`` with
        ``overrides`` (an experiment's ``prices:``) on top; 0 when the provider is not paid.
        The one price path of the plan, the budget, the run, the rerun and ``generate``."""
        if not cls.paid:
            return 0.0
        if overrides and model in overrides:
            return price_of(overrides, model, request)
        row = cls.capabilities.get(model)
        if row is not None and row.usd_per_second:
            return caps.price(row, request)
        if model not in cls.prices:
            raise ConfigError(
                f"provider {cls.name} has no price for model {model!r}: add it under prices: "
                "in the experiment file"
            )
        return price_of(cls.prices, model, request)

    @classmethod
    def problems(cls, request: VideoRequest, model: str) -> list[str]:
        """What ``model`` on this provider cannot do with ``request``, one phrase each (see
        :func:`veolab.providers.capabilities.problems`); none for a model without a row."""
        row = cls.capabilities.get(model)
        return caps.problems(row, request) if row is not None else []

    @classmethod
    def seed_holds(cls, config: ProviderConfig) -> str | None:
        """None when a seed reproduces a video with ``config``, else why it does not (Vertex:
        ``sample_count > 1`` or ``enhance_prompt``); ``veolab rerun`` warns with it."""
        return None

    @classmethod
    def seed_refused(cls, config: ProviderConfig) -> str | None:
        """Why a seed cannot be asked for at all with ``config`` (Vertex: ``sample_count > 1``,
        one seed for several videos), else None: a plan with seeds is refused at plan time,
        cell by cell (issue 14). Weaker doubts are :meth:`seed_holds`'s warnings."""
        return None

    @classmethod
    def output_params(cls, config: ProviderConfig) -> dict[str, Any]:
        """The settings of ``config`` that change what comes back (Vertex's
        ``enhance_prompt``): logged as params of every run, under the provider's prefix."""
        return {}

    @classmethod
    def seconds_per_run(cls, config: ProviderConfig) -> float:
        """Typical seconds one generation takes with ``config`` (the plan's time estimate)."""
        return cls.typical_seconds.get(config.model, 60.0)

    # -- configuration ----------------------------------------------------------------------

    @classmethod
    def config_problems(
        cls, data: ProviderConfig | Mapping[str, Any] | None
    ) -> tuple[ProviderConfig | None, list[tuple[str, str]]]:
        """``data`` validated by ``config_class`` (with the default model filled in), or None
        and its problems as (field, message) pairs."""
        if isinstance(data, ProviderConfig):
            data = data.dump()
        fields = dict(data or {})
        fields.setdefault("name", cls.name)
        try:
            config = cls.config_class.model_validate(fields)
        except ValidationError as exc:
            return None, [_problem(cls, err) for err in exc.errors()]
        if not config.model and cls.models:
            config.model = cls.models[0]
        elif cls.models and config.model not in cls.models:
            wanted = f"Input should be {_choices(cls.models)} (got {config.model!r})"
            return None, [("model", wanted)]
        return config, []

    @classmethod
    def configure(cls, config: ProviderConfig | Mapping[str, Any] | None = None) -> ProviderConfig:
        """``config`` (a mapping, a ProviderConfig or None) as this provider's config class;
        any problem is one ConfigError naming the provider and the field."""
        if isinstance(config, cls.config_class) and config.model in cls.models:
            return config
        checked, problems = cls.config_problems(config)
        if checked is None:
            details = "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems)
            raise ConfigError(f"provider {cls.name}: {details}")
        return checked

    @abc.abstractmethod
    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        """Make one video. Raises a ProviderError subclass on failure.

        ``on_submitted(request_id)`` is called as soon as the host has accepted the job and
        named it (before polling), so a caller can journal the id and resume after a crash.
        """

    async def resume(self, request: VideoRequest, request_id: str) -> ProviderResult:
        """Resume a job the host already accepted (queued APIs); default: not supported."""
        from veolab.errors import OutcomeUnknownError

        raise OutcomeUnknownError(
            f"provider {self.name!r} cannot resume job {request_id}", request_id=request_id
        )

    def check_ready(self) -> None:
        """Fail before any request (and any MLflow run) when the provider cannot work:
        by default, a provider that needs a key and has none raises MissingKeyError."""
        import os

        from veolab.errors import MissingKeyError

        if self.needs_key and not (self.config.api_key or os.environ.get(self.key_env_var or "")):
            raise MissingKeyError(
                f"No {self.name} API key: set {self.key_env_var} (provider {self.name!r})"
            )

    def estimate_cost(self, request: VideoRequest, model: str | None = None) -> float:
        """Price-table estimate in USD for one generation (see :meth:`price`)."""
        return self.price(request, model or self.config.model)

    async def aclose(self) -> None:
        """Release connections; the default has none."""


def _choices(values: tuple[str, ...]) -> str:
    """'a', 'b' or 'c': pydantic's wording for a choice."""
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _problem(cls: type[Provider], err: Any) -> tuple[str, str]:
    """One pydantic error of ``cls.config_class`` as (field, message)."""
    loc = ".".join(str(p) for p in err.get("loc", ()))
    if err.get("type") == "extra_forbidden" and len(err.get("loc", ())) == 1:
        hidden = ("name", "api_key", "options")
        takes = [f for f in cls.config_class.model_fields if f not in hidden]
        return loc, f"unknown field ({cls.name} takes: {', '.join(takes)})"
    return loc, describe_error(err)
