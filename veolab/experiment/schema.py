"""The experiment file (``experiments/*.yaml``): a strict, documented schema.

    name: keynote-lighting
    template: keynote.j2            # a file in prompts/ (or `prompt:` inline text)
    vars: {speaker: a CEO, lighting: [warm golden, cool blue]}   # lists expand as a product
    zip: {outfit: [suit, hoodie], stage: [small, large]}         # lists that advance together
    variants: [{name: night, vars: {lighting: dark night}}]      # named overrides (optional)
    params: {resolution: 720p, duration: [4, 8]}                 # VideoRequest fields
    seeds: [1, 2, 3]                # or: repeats: 3, base_seed: 42
    provider: {name: segmind, model: veo-3.1, mode: queue}    # and that provider's settings
    # or hosts and models as grid axes: every provider x every model, like vars
    #   provider: [segmind, {name: replicate}]      model: [veo-3.1, veo-3.1-fast]
    #   a variant may pin them: variants: [{name: lite, model: veo-3.1-lite}]
    concurrency: 4
    rate_limit: 20                  # submits per minute
    budget: 10.0                    # USD
    checks: {max_black_segment: 0.5}
    max_runs: 10000                 # refuse a bigger grid before expanding it (--max-runs)

Unknown keys are errors; every error names the file, the field and what is allowed. So are a
key given twice in one mapping (YAML would keep the last one silently), an empty list to sweep
(it would make no runs) and booleans where whole numbers are expected (``seeds: [true]``).

``provider:`` is a name, a block of settings or a list of them; ``model:`` (top level, in a
provider block or in a variant) is a name or a list. Together they are the grid's host and
model axes (:meth:`Experiment.targets`): a cell a host cannot serve is found when the plan is
built (``veolab.runner.resolve``), per (host, model).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from veolab.errors import ExperimentError
from veolab.request import API_FIELDS, LIST_FIELDS, SEED_MAX

SWEEPABLE = tuple(f for f in API_FIELDS if f not in ("prompt", "seed"))
MAX_RUNS = 10_000  # default cap on the plan's size (experiment `max_runs:`, CLI --max-runs)
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. ")


class ProviderSettings(BaseModel):
    """Which provider to call and how: ``name``, ``model``, and the provider's own fields
    (segmind: ``mode``, ``inline_images``, ``poll_interval``...; sim: ``latency``, ``defects``;
    either as keys here or under ``options:``). The provider's config class checks them when
    the plan is built (``veolab.runner.resolve``): a field it does not take is an error there.

    The API key never goes in an experiment file; the jobs in flight and the submit rate are
    the experiment's ``concurrency:`` and ``rate_limit:``.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="sim", min_length=1)
    model: str | list[str] | None = None  # None: the provider's first model; a list: an axis

    @model_validator(mode="after")
    def _not_here(self) -> ProviderSettings:
        elsewhere = {
            "api_key": "an API key never goes in an experiment file: set the provider's key "
            "variable (SEGMIND_API_KEY) or pass --api-key",
            "max_in_flight": "use `concurrency:` at the top level",
            "submits_per_minute": "use `rate_limit:` at the top level",
        }
        for key, advice in elsewhere.items():
            if key in (self.model_extra or {}):
                raise ValueError(f"{key}: {advice}")
        return self

    @field_validator("model")
    @classmethod
    def _models(cls, v: str | list[str] | None) -> str | list[str] | None:
        return _check_models(v)

    def fields(self) -> dict[str, Any]:
        """The settings as the provider's config class takes them (``name`` left out; a list
        of models is the grid's axis, not a setting)."""
        given = dict(self.model_extra or {})
        return ({"model": self.model} if isinstance(self.model, str) else {}) | given

    def models(self) -> list[str | None]:
        """The models this block asks for: ``[None]`` (the provider's first) unless given."""
        if self.model is None:
            return [None]
        return [self.model] if isinstance(self.model, str) else list(self.model)


def _check_models(v: str | list[str] | None) -> str | list[str] | None:
    if isinstance(v, list):
        if not v:
            raise ValueError("model is an empty list, which makes no runs: give at least one")
        if len(set(v)) != len(v):
            raise ValueError("models repeat: list each model once")
    return v


def _provider_blocks(v: Any) -> Any:
    """``provider: sim``, a block, or ``provider: [sim, {name: segmind}]`` (a name is a block),
    validated here so that a problem reads ``provider: mode: ...`` (``provider.1: ...`` in a
    list), not as pydantic's two union branches."""
    if v is None or isinstance(v, ProviderSettings):
        return v
    if isinstance(v, list):
        if not v:
            raise ValueError("provider is an empty list, which makes no runs: give at least one")
        return [_one_block(p, f".{i}") for i, p in enumerate(v)]
    return _one_block(v, "")


def _one_block(v: Any, where: str) -> ProviderSettings:
    if isinstance(v, ProviderSettings):
        return v
    if isinstance(v, str):
        v = {"name": v}
    if not isinstance(v, dict):
        text = "give a provider name or a mapping of its settings"
        raise ValueError(f"{where[1:]}: {text}" if where else text)
    try:
        return ProviderSettings.model_validate(v)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        text = "; ".join(parts)
        raise ValueError(f"{where[1:]}: {text}" if where else text) from None


def _unique_providers(blocks: list[ProviderSettings]) -> None:
    names = [b.name for b in blocks]
    if len(set(names)) != len(names):
        raise ValueError(
            "providers repeat: list each provider once (give it a list of models instead)"
        )


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audio: float = Field(ge=0)
    no_audio: float = Field(ge=0)


class Variant(BaseModel):
    """A named variant: its own vars and params on top of the experiment's; ``provider:`` and
    ``model:`` pin its host and model (a name, or a list: its own axes)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    vars: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    provider: ProviderSettings | list[ProviderSettings] | None = None
    model: str | list[str] | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_names(cls, v: Any) -> Any:
        return _provider_blocks(v)

    @field_validator("provider")
    @classmethod
    def _one_block_each(
        cls, v: ProviderSettings | list[ProviderSettings] | None
    ) -> ProviderSettings | list[ProviderSettings] | None:
        if isinstance(v, list):
            _unique_providers(v)
        return v

    @field_validator("model")
    @classmethod
    def _models(cls, v: str | list[str] | None) -> str | list[str] | None:
        return _check_models(v)

    @field_validator("params")
    @classmethod
    def _known_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_axes(_check_param_keys(v), "params")

    @field_validator("vars")
    @classmethod
    def _vars_axes(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_axes(v, "vars")


def _check_axes(values: dict[str, Any], section: str) -> dict[str, Any]:
    """An empty list would sweep over nothing and make no runs: refuse it by name."""
    for key, value in values.items():
        # reference_images: [] is one value (no references), not an empty sweep
        if isinstance(value, list) and not value and key not in LIST_FIELDS:
            raise ValueError(
                f"{key} is an empty list, which makes no runs: give at least one value or remove "
                f"{section}.{key}"
            )
    return values


def _check_param_keys(params: dict[str, Any]) -> dict[str, Any]:
    for key in params:
        if key == "seed":
            raise ValueError("seed is not a param: use `seeds:` or `repeats:` with `base_seed:`")
        if key == "prompt":
            raise ValueError("prompt is not a param: use `template:` or `prompt:` at the top level")
        if key not in SWEEPABLE:
            raise ValueError(f"unknown param {key!r}: allowed are {', '.join(SWEEPABLE)}")
    return params


class Experiment(BaseModel):
    """A validated experiment file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    template: str | None = None
    prompt: str | None = None
    prompts_dir: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    zip: dict[str, list[Any]] | None = None
    variants: list[Variant] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    seeds: list[StrictInt] | None = None
    repeats: StrictInt | None = Field(default=None, ge=1, le=10_000)
    base_seed: StrictInt = Field(default=0, ge=0, le=SEED_MAX)
    max_runs: StrictInt = Field(default=MAX_RUNS, ge=1)
    provider: ProviderSettings | list[ProviderSettings] = Field(default_factory=ProviderSettings)
    model: str | list[str] | None = None  # every provider's model(s); or provider.model
    concurrency: StrictInt = Field(default=4, ge=1, le=64)
    rate_limit: float | None = Field(default=None, gt=0)
    budget: float | None = Field(default=None, ge=0)
    confirm_above: float = Field(default=5.0, ge=0)
    prices: dict[str, Price] | None = None  # models checked against the provider's
    # CheckThresholds fields, checked by the runner when the plan is built (the experiment
    # stage does not import analysis)
    checks: dict[str, Any] = Field(default_factory=dict)
    veo_rules: bool = True

    # where the file was read from (set by load_experiment; not part of the YAML)
    source_path: Path | None = Field(default=None, exclude=True)
    source_sha256: str | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name_chars(cls, v: str) -> str:
        if set(v) - _NAME_CHARS:
            raise ValueError("use letters, digits, '-', '_', '.' and spaces only")
        return v.strip()

    @field_validator("params")
    @classmethod
    def _known_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_axes(_check_param_keys(v), "params")

    @field_validator("vars")
    @classmethod
    def _vars_axes(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_axes(v, "vars")

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_names(cls, v: Any) -> Any:
        return _provider_blocks(v)

    @field_validator("provider")
    @classmethod
    def _one_block_each(
        cls, v: ProviderSettings | list[ProviderSettings]
    ) -> ProviderSettings | list[ProviderSettings]:
        if isinstance(v, list):
            _unique_providers(v)
        return v

    @field_validator("model")
    @classmethod
    def _models(cls, v: str | list[str] | None) -> str | list[str] | None:
        return _check_models(v)

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one seed")
        for s in v:
            if isinstance(s, bool) or not 0 <= s <= SEED_MAX:
                raise ValueError(f"seed {s} is outside 0..{SEED_MAX}")
        if len(set(v)) != len(v):
            raise ValueError("seeds repeat: each seed is one run, list each once")
        return v

    @field_validator("zip")
    @classmethod
    def _zip_lengths(cls, v: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if v:
            lengths = {k: len(x) for k, x in v.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip lists must have the same length (got {lengths})")
            if 0 in lengths.values():
                raise ValueError("zip lists must not be empty")
        return v

    @model_validator(mode="after")
    def _one_source_of_prompt(self) -> Experiment:
        if bool(self.template) == bool(self.prompt):
            raise ValueError("give exactly one of `template:` (a file in prompts/) or `prompt:`")
        if self.seeds is not None and self.repeats is not None:
            raise ValueError("give `seeds:` or `repeats:` (with `base_seed:`), not both")
        overlap = set(self.zip or {}) & set(self.vars)
        if overlap:
            raise ValueError(f"{sorted(overlap)} are in both vars and zip: keep each in one place")
        names = [v.name for v in self.variants or []]
        if len(set(names)) != len(names):
            raise ValueError("variant names repeat: give each variant a distinct name")
        if self.model is not None and any(b.model is not None for b in self.providers()):
            raise ValueError(
                "model is given both at the top level and in provider: keep it in one place"
            )
        return self

    # -- hosts and models: the grid's first axes ---------------------------------------------

    def providers(self) -> list[ProviderSettings]:
        """The ``provider:`` blocks, in order (one, or the list)."""
        return list(self.provider) if isinstance(self.provider, list) else [self.provider]

    def targets(self, variant: Variant | None = None) -> list[tuple[ProviderSettings, str | None]]:
        """The (provider block, model) cells of ``variant`` (or of the experiment), hosts
        first: every provider times every model. A model of None is the provider's first.

        A variant's ``provider:`` pins its hosts (a name given at the top level keeps that
        block's settings); its ``model:`` pins its models, over the top level's and the
        blocks'.
        """
        blocks = self.providers()
        if variant is not None and variant.provider is not None:
            pinned = variant.provider if isinstance(variant.provider, list) else [variant.provider]
            own = {b.name: b for b in blocks}
            # a bare name borrows the experiment's settings of that provider
            blocks = [own.get(p.name, p) if not _has_settings(p) else p for p in pinned]
        pinned_models = variant.model if variant is not None else None
        cells: list[tuple[ProviderSettings, str | None]] = []
        for block in blocks:
            models = next(
                (m for m in (pinned_models, block.model, self.model) if m is not None), None
            )
            names = [models] if models is None or isinstance(models, str) else models
            cells.extend((block, m) for m in names)
        return cells

    def seed_list(self) -> list[int]:
        """The seeds of the plan: explicit, or derived from base_seed (stable across runs)."""
        if self.seeds is not None:
            return list(self.seeds)
        n = self.repeats or 1
        return [derive_seed(self.base_seed, i) for i in range(n)]

    def prompts_root(self) -> Path | None:
        """prompts/: explicit, else the nearest prompts/ above the file, else ./prompts."""
        base = self.source_path.parent if self.source_path else Path.cwd()
        if self.prompts_dir:
            p = Path(self.prompts_dir)
            return p if p.is_absolute() else (base / p)
        for d in [base, *base.parents]:
            if (d / "prompts").is_dir():
                return d / "prompts"
        return Path.cwd() / "prompts"

    def base_dir(self) -> Path:
        """Image paths in params are relative to the experiment file."""
        return self.source_path.parent if self.source_path else Path.cwd()


def _has_settings(block: ProviderSettings) -> bool:
    """More than a name: a model or a setting of the provider's own."""
    return block.model is not None or bool(block.model_extra)


def derive_seed(base_seed: int, index: int) -> int:
    """Repeat ``index``'s seed: a stable hash of (base_seed, index) in 0..2**32-1."""
    digest = hashlib.sha256(f"veolab-seed:{base_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _format_error(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        kind = err.get("type")
        if kind == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/experiments.md)"
        elif kind == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "int_type":
            msg = f"give a whole number (got {err.get('input')!r})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{path}: " + "; ".join(parts)


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
                seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base class says what is wrong
            if first is not None:
                raise _DuplicateKeyError(
                    None,
                    None,
                    f"key {key!r} appears twice (first on line {first})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def load_experiment(path: Path | str) -> Experiment:
    """Read and validate an experiment file; any problem is one ExperimentError line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ExperimentError(f"experiment file not found: {path}") from None
    except OSError as exc:
        raise ExperimentError(f"cannot read experiment file {path}: {exc.strerror}") from exc
    try:
        data = yaml.load(raw, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except _DuplicateKeyError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}:" if mark else ""
        raise ExperimentError(f"{path}:{line} {exc.problem}: keep one of them") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ExperimentError(f"{path}:{where}: {problem}: fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise ExperimentError(
            f"{path}: an experiment file must be a YAML mapping (name:, template:, ...)"
        )
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(_format_error(path, exc)) from exc
    exp.source_path = path.resolve()
    exp.source_sha256 = hashlib.sha256(raw).hexdigest()
    return exp
