"""Expand an experiment into run specs: one per host, model, variant and seed.

    exp = load_experiment("experiments/quickstart.yaml")
    plan = build_plan(exp, provider="sim", model="veo-3.1", pricing=FREE)
    [(r.variant_label, r.seed) for r in plan.runs][:2]

The plan knows no provider registry and no price table: the caller passes a ``resolve``
function that turns each (provider block, model) cell of the experiment into a :class:`Target`
(its provider's name, model and :class:`Pricing`: paid, the price of a request, the seconds of
a run and what the host cannot do with a request), or one provider, model and Pricing for every
run (``veolab.runner.plan_experiment`` resolves them from the providers' capability tables and
the experiment's ``prices:``).

Expansion: ``provider:`` and ``model:`` lists are the grid's first axes (every provider times
every model, :meth:`Experiment.targets`; a variant may pin them); list-valued ``vars`` and
``params`` form a cartesian product; ``zip`` lists advance together; each named variant applies
its overrides and expands the same way. Every seed is its own run. A run's variant id is a short
stable hash of everything except the seed (its host and model included); its label names the
swept values (``model=veo-3.1-fast`` when models vary), its short label says them compactly
(``dark·drone``: see ``experiment.names``). The plan touches no network and no tracking store.

A cell whose host cannot serve its request (4k on Segmind's veo-3.1, reference images on
veo-3.1-lite) is an ExperimentError listing every such cell, one line each, or, with
``skip_unsupported``, dropped and listed in ``Plan.unsupported``.

Before expanding anything, :func:`grid_size` multiplies the axes out; a plan of more than
``max_runs`` runs (the experiment's ``max_runs:``, default 10,000, or ``--max-runs``) is an
ExperimentError naming the count and the largest axes, so a typo'd grid of a billion runs is
refused at once instead of filling memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from veolab.errors import ConfigError, ExperimentError, RequestError, UnsupportedCellsError
from veolab.experiment.names import compact_labels
from veolab.experiment.schema import Experiment, ProviderSettings, Variant
from veolab.experiment.templates import PromptTemplates
from veolab.images import ImageRef
from veolab.request import IMAGE_FIELDS, LIST_FIELDS, VideoRequest


def _no_problems(request: VideoRequest) -> list[str]:
    return []


@dataclass(frozen=True)
class Pricing:
    """What a plan needs to know of a (provider, model): whether it is paid, the USD of one
    request (the experiment's ``prices:`` applied), the seconds of one run, and what it cannot
    do with a request (one phrase each; none: it can)."""

    paid: bool
    price: Callable[[VideoRequest], float]
    seconds_per_run: float
    problems: Callable[[VideoRequest], list[str]] = _no_problems
    #: why this host's settings cannot take a seed (a cell whose runs have seeds cannot be made)
    seed_problem: str | None = None


#: a free provider that answers in about a second
FREE = Pricing(paid=False, price=lambda request: 0.0, seconds_per_run=1.0)


@dataclass(frozen=True)
class Target:
    """One (host, model) of the grid, resolved: the provider's name, the model, what the plan
    needs of them, and the ``provider:`` block its settings come from."""

    provider: str
    model: str
    pricing: Pricing
    settings: ProviderSettings | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.model


#: turns a (provider block, model or None: the provider's first) cell into its Target
Resolver = Callable[[ProviderSettings, "str | None"], Target]


@dataclass
class Unsupported:
    """A grid cell its host cannot serve: which, why, and the runs it would have made."""

    provider: str
    model: str
    label: str
    problems: list[str]
    runs: int

    def describe(self) -> str:
        """``model=veo-3.1-lite, style=ref: reference_images not offered by ...``"""
        return f"{self.label}: {'; '.join(self.problems)}"


@dataclass
class RunSpec:
    """One generation to make: a request, where it came from, and how it is labelled."""

    index: int
    variant_id: str
    variant_label: str
    variant_name: str | None
    swept: dict[str, Any]
    vars: dict[str, Any]
    params: dict[str, Any]
    seed: int
    prompt: str
    request: VideoRequest
    template: str
    template_sha256: str
    estimated_cost: float
    template_files: dict[str, str] = field(default_factory=dict)
    request_hash: str = ""
    short_label: str = ""  # the swept values, compactly: the MLflow run name's stem
    # when its prompt was rendered (seconds since the epoch): the first stage of its trace
    rendered_span: tuple[float, float] | None = None
    provider: str = ""  # the host that makes it (the plan's when empty)
    model: str = ""

    def __post_init__(self) -> None:
        if not self.request_hash:
            self.request_hash = self.request.request_hash()


@dataclass
class Plan:
    """The runs of an experiment. ``provider`` and ``model`` are the first target's (the only
    one unless the grid has host or model axes); each run names its own."""

    experiment: Experiment
    runs: list[RunSpec]
    provider: str
    model: str
    paid: bool
    seconds_per_run: float
    template_sha256s: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # every (host, model) of the runs
    unsupported: list[Unsupported] = field(default_factory=list)  # cells dropped (skipped)

    def hosts(self) -> list[tuple[str, str]]:
        """Every (provider, model) the runs use, in plan order."""
        hosts = ((r.provider or self.provider, r.model or self.model) for r in self.runs)
        return list(dict.fromkeys(hosts)) or [(self.provider, self.model)]

    def describe_hosts(self) -> str:
        """``sim (veo-3.1, veo-3.1-fast)`` or ``segmind (veo-3.1), replicate (veo-3.1)``."""
        models: dict[str, list[str]] = {}
        for provider, model in self.hosts():
            models.setdefault(provider, []).append(model)
        return ", ".join(f"{p} ({', '.join(ms)})" for p, ms in models.items())

    def target(self, spec: RunSpec) -> Target | None:
        """The target that makes ``spec`` (None in a plan built without targets)."""
        return next((t for t in self.targets if t.key == (spec.provider, spec.model)), None)

    def estimated_spend(self, runs: list[RunSpec] | None = None) -> float:
        return round(sum(r.estimated_cost for r in (self.runs if runs is None else runs)), 2)

    def estimated_seconds(self, n_runs: int | None = None, concurrency: int | None = None) -> float:
        n = len(self.runs) if n_runs is None else n_runs
        c = concurrency or self.experiment.concurrency
        return -(-n // c) * self.seconds_per_run if n else 0.0


def _values(key: str, value: Any) -> list[Any]:
    """The sweep of one param or var: a list sweeps, except a list field (reference_images),
    which sweeps a list of lists."""
    if key in LIST_FIELDS:
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return value
        return [value]
    return value if isinstance(value, list) else [value]


def grid_size(exp: Experiment) -> tuple[int, list[tuple[str, int]]]:
    """How many runs ``exp`` expands into, and its axes with their lengths, largest first.

    Computed from the lengths alone (nothing is expanded), the same way :func:`build_plan`
    expands: per variant, the product of its (host, model) cells, the var lists, the zip rows
    and the param lists; the variants add up; every seed multiplies.
    """
    axes: dict[str, int] = {}
    total = 0
    variants: list[Variant | None] = list(exp.variants or []) or [None]
    for variant in variants:
        v_vars = {**exp.vars, **(variant.vars if variant else {})}
        v_params = {**exp.params, **(variant.params if variant else {})}
        zip_ = {k: v for k, v in (exp.zip or {}).items() if not (variant and k in variant.vars)}
        cells = exp.targets(variant)
        for name, n in (("provider", len({b.name for b, _ in cells})), ("model", len(cells))):
            axes[name] = max(axes.get(name, 0), n)
        sizes = {f"var.{k}": len(_values(k, v)) for k, v in v_vars.items()}
        if zip_:
            sizes["zip"] = len(next(iter(zip_.values())))
        sizes |= {f"param.{k}": len(_values(k, v)) for k, v in v_params.items()}
        total += len(cells) * math.prod(sizes.values())
        for name, n in sizes.items():
            axes[name] = max(axes.get(name, 0), n)
    if len(variants) > 1:
        axes["variants"] = len(variants)
    n_seeds = len(exp.seeds) if exp.seeds is not None else (exp.repeats or 1)
    axes["seeds"] = n_seeds
    ranked = sorted(((k, n) for k, n in axes.items() if n > 1), key=lambda kv: -kv[1])
    return total * n_seeds, ranked


def check_size(exp: Experiment, max_runs: int | None = None) -> int:
    """The plan's size, or an ExperimentError when it is above ``max_runs``."""
    limit = exp.max_runs if max_runs is None else max_runs
    n, axes = grid_size(exp)
    if n > limit:
        where = str(exp.source_path or "the experiment file")
        largest = ", ".join(f"{k} {v:,}" for k, v in axes[:3]) or "none"
        raise ExperimentError(
            f"{where}: the grid makes {n:,} runs, more than max_runs {limit:,}: largest axes "
            f"{largest}; raise max_runs or --max-runs, or shrink the grid"
        )
    return n


def _combos(vars_: dict[str, Any], zip_: dict[str, list[Any]] | None, params: dict[str, Any]):
    var_keys = list(vars_)
    var_lists = [_values(k, vars_[k]) for k in var_keys]
    zip_rows = (
        [dict(zip(zip_, row, strict=True)) for row in zip(*zip_.values(), strict=True)]
        if zip_
        else [{}]
    )
    par_keys = list(params)
    par_lists = [_values(k, params[k]) for k in par_keys]
    for vcombo in itertools.product(*var_lists):
        for zrow in zip_rows:
            for pcombo in itertools.product(*par_lists):
                yield (
                    {**dict(zip(var_keys, vcombo, strict=True)), **zrow},
                    dict(zip(par_keys, pcombo, strict=True)),
                )


def _freeze(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any, n: int = 32) -> str:
    s = v if isinstance(v, str) else _freeze(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def build_plan(
    exp: Experiment,
    *,
    provider: str | None = None,
    model: str | None = None,
    pricing: Pricing | None = None,
    resolve: Resolver | None = None,
    max_runs: int | None = None,
    skip_unsupported: bool = False,
) -> Plan:
    """Every run of ``exp``, priced and validated before anything is paid; a grid of more than
    ``max_runs`` runs (default: the experiment's) is refused before it is expanded.

    ``resolve`` turns each (provider block, model) cell of the experiment into its Target;
    without it, every run is on ``provider``'s ``model`` priced by ``pricing``. A cell whose
    host cannot serve its request is an ExperimentError naming every such cell, or with
    ``skip_unsupported`` is left out and listed in ``Plan.unsupported``.
    """
    fixed: Target | None = None
    if resolve is None:
        if provider is None or model is None or pricing is None:
            raise TypeError("build_plan needs resolve, or provider, model and pricing")
        fixed = Target(provider, model, pricing)
    check_size(exp, max_runs)
    templates = PromptTemplates(exp.prompts_root() if exp.template else None)
    where = str(exp.source_path or "the experiment file")
    seeds = exp.seed_list()
    image_cache: dict[str, ImageRef] = {}
    resolved: dict[tuple[str, str | None, str], Target] = {}

    def cells_of(variant: Variant | None) -> list[tuple[ProviderSettings, str | None]]:
        return [(exp.providers()[0], None)] if fixed is not None else exp.targets(variant)

    def target(block: ProviderSettings, name: str | None) -> Target:
        key = (block.name, name, _freeze(block.model_dump()))
        if key not in resolved:
            if fixed is not None:
                resolved[key] = fixed
            else:
                assert resolve is not None
                resolved[key] = resolve(block, name)
        return resolved[key]

    def images(params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        for key in IMAGE_FIELDS:
            val = out.get(key)
            if val is None:
                continue
            vals = val if isinstance(val, list) else [val]
            refs = []
            for v in vals:
                if not isinstance(v, str):
                    raise ExperimentError(
                        f"{where}: params.{key}: give image paths or URLs as strings"
                    )
                if v not in image_cache:
                    try:
                        image_cache[v] = ImageRef.parse(v, base_dir=exp.base_dir())
                    except ConfigError as exc:
                        raise ExperimentError(f"{where}: params.{key}: {exc}") from exc
                refs.append(image_cache[v])
            out[key] = refs if isinstance(val, list) else refs[0]
        return out

    groups: list[tuple[str | None, dict[str, Any], dict[str, Any], list[Target]]] = []
    variants: list[Variant | None] = list(exp.variants or []) or [None]
    for variant in variants:
        v_vars = {**exp.vars, **(variant.vars if variant else {})}
        v_params = {**exp.params, **(variant.params if variant else {})}
        zip_ = {k: v for k, v in (exp.zip or {}).items() if not (variant and k in variant.vars)}
        targets = [target(block, name) for block, name in cells_of(variant)]
        for vars_, params in _combos(v_vars, zip_, v_params):
            groups.append((variant.name if variant else None, vars_, params, targets))

    # which keys actually vary across the plan: they make the labels (hosts and models first)
    swept_hosts = [
        k
        for k, pick in (("provider", 0), ("model", 1))
        if len({t.key[pick] for *_, ts in groups for t in ts}) > 1
    ]
    swept_keys: list[str] = []
    for key in dict.fromkeys(k for _, v, _, _ in groups for k in v):
        if len({_freeze(v.get(key)) for _, v, _, _ in groups}) > 1:
            swept_keys.append(key)
    swept_params = [
        k
        for k in dict.fromkeys(k for _, _, p, _ in groups for k in p)
        if len({_freeze(p.get(k)) for _, _, p, _ in groups}) > 1
    ]

    runs: list[RunSpec] = []
    unsupported: list[Unsupported] = []
    tsha: set[str] = set()
    for variant_name, vars_, params, targets in groups:
        render_start = time.time()
        rendered = templates.render(exp.template, vars_, inline=exp.prompt, where=where)
        render_span = (render_start, time.time())
        tsha.add(rendered.sha256)
        try:
            base_req = VideoRequest.build(
                base_dir=exp.base_dir(),
                prompt=rendered.text,
                veo_rules=exp.veo_rules,
                **images(params),
            )
        except (RequestError, ConfigError) as exc:
            if isinstance(exc, ExperimentError):
                raise
            label = variant_name or ", ".join(f"{k}={_short(params[k])}" for k in params)
            raise ExperimentError(f"{where}: run {label or 'default'}: {exc}") from exc
        identity = base_req.identity()
        identity.pop("seed")
        swept_values = {k: vars_.get(k) for k in swept_keys} | {
            k: params[k] if k in params else getattr(base_req, k) for k in swept_params
        }
        for t in targets:
            variant_id = hashlib.sha256(
                _freeze({"request": identity, "provider": t.provider, "model": t.model}).encode()
            ).hexdigest()[:10]
            hosts = {"provider": t.provider, "model": t.model}
            swept = {k: hosts[k] for k in swept_hosts} | swept_values
            parts = ([variant_name] if variant_name else []) + [
                f"{k}={_short(v)}" for k, v in swept.items()
            ]
            label = ", ".join(parts) or "default"
            wrong = t.pricing.problems(base_req) if exp.veo_rules else []
            if t.pricing.seed_problem and any(s is not None for s in seeds):
                wrong = [*wrong, t.pricing.seed_problem]
            if wrong:
                cell = label if swept_hosts else f"{label} on {t.provider} {t.model}"
                unsupported.append(Unsupported(t.provider, t.model, cell, wrong, len(seeds)))
                continue
            cost = t.pricing.price(base_req)
            for seed in seeds:
                runs.append(
                    RunSpec(
                        index=len(runs),
                        variant_id=variant_id,
                        variant_label=label,
                        variant_name=variant_name,
                        swept=swept,
                        vars=vars_,
                        params=params,
                        seed=seed,
                        prompt=rendered.text,
                        request=base_req.with_seed(seed),
                        template=rendered.template,
                        template_sha256=rendered.sha256,
                        template_files=rendered.files,
                        estimated_cost=cost,
                        rendered_span=render_span,
                        provider=t.provider,
                        model=t.model,
                    )
                )
    if unsupported and (not skip_unsupported or not runs):
        n = len(unsupported)
        cells = "grid cell" if n == 1 else "grid cells"
        how = (
            "--skip-unsupported drops them"
            if runs
            else "no cell is left to run: change the models, hosts or params"
        )
        raise UnsupportedCellsError(
            f"{where}: {n} {cells} cannot be made by their host ({how}):",
            [u.describe() for u in unsupported],
        )
    for r, short in zip(
        runs, compact_labels([(r.variant_name, r.swept) for r in runs]), strict=True
    ):
        r.short_label = short
    seen: dict[tuple[str, str, str], int] = {}
    for r in runs:
        same = (r.provider, r.model, r.request_hash)
        if same in seen:
            raise ExperimentError(
                f"{where}: runs {seen[same]} and {r.index} are the same request "
                f"({r.variant_label}, seed {r.seed}): remove the duplicate variant"
            )
        seen[same] = r.index
    used = list({(r.provider, r.model): None for r in runs})
    targets_used = [t for t in dict.fromkeys(resolved.values()) if t.key in used]
    first = targets_used[0] if targets_used else next(iter(resolved.values()))
    per_run = {t.key: t.pricing.seconds_per_run for t in targets_used}
    seconds = sum(per_run[(r.provider, r.model)] for r in runs) / len(runs) if runs else 0.0
    return Plan(
        exp,
        runs,
        first.provider,
        first.model,
        any(t.pricing.paid for t in targets_used) if targets_used else first.pricing.paid,
        seconds or first.pricing.seconds_per_run,
        sorted(tsha),
        targets=targets_used or [first],
        unsupported=unsupported,
    )
