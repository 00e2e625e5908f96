"""What a plan, a sweep and a rerun need from their provider and the analysis, resolved once.

    plan = plan_experiment(load_experiment("experiments/quickstart.yaml"))
    plan.provider, plan.model, plan.paid, plan.estimated_spend()
    # -> ('sim', 'veo-3.1', False, 0.0)

The experiment stage checks the shape of a file; what only the provider or the analysis can
judge is checked here: each ``provider:`` block by the provider's own config class, the models
of ``prices:`` by the providers' ``models``, ``checks:`` by ``CheckThresholds``, and each grid
cell by its (host, model)'s capability row (:meth:`Provider.problems`). Every problem is an
ExperimentError naming the file and the field (exit 2), raised before anything is paid or
logged. Prices come from one path, :meth:`Provider.price` (the host's capability table), with
``prices:`` on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from veolab.errors import ExperimentError
from veolab.experiment.plan import Plan, Pricing, Target, build_plan
from veolab.experiment.schema import Experiment, ProviderSettings
from veolab.providers import ProviderConfig, available_providers, provider_class
from veolab.request import format_validation_error

if TYPE_CHECKING:
    from veolab.analysis import CheckThresholds


def plan_experiment(
    exp: Experiment,
    provider: str | None = None,
    model: str | None = None,
    max_runs: int | None = None,
    skip_unsupported: bool = False,
) -> Plan:
    """Every run of ``exp`` on its providers and models (or on ``provider``, ``model``: they
    replace the file's axes), each cell priced by its host with the experiment's ``prices:`` on
    top; the provider settings, the prices and the checks are validated first, and a cell its
    host cannot serve is an error (or, ``skip_unsupported``, left out and reported in
    ``plan.unsupported``). What ``veolab plan`` and ``veolab run`` show and run."""
    where = _where(exp)
    for block in exp.providers():  # the file's own blocks, even when overridden
        check_settings(block, where)
    if provider or model:
        exp = overridden(exp, provider, model)
    overrides = price_overrides(exp, where)
    check_thresholds(exp)

    # a model no installed host serves is a typo (the provider says so); one that another host
    # serves is a cell this host cannot make
    served = {m for n in available_providers() for m in provider_class(n).models}

    def resolve(block: ProviderSettings, name: str | None) -> Target:
        cls = provider_class(block.name)
        if name is not None and cls.models and name not in cls.models and name in served:
            config = provider_config(block, block.name, None, where=where)
            wrong = [f"{name} not served by {block.name} ({', '.join(cls.models)})"]
            cell = Pricing(
                paid=bool(cls.paid),
                price=lambda request: 0.0,
                seconds_per_run=cls.seconds_per_run(config),
                problems=lambda request: wrong,
            )
            return Target(block.name, name, cell, settings=block)
        config = provider_config(block, block.name, name, where=where)
        return Target(
            block.name, config.model, pricing(block.name, config, overrides), settings=block
        )

    return build_plan(exp, resolve=resolve, max_runs=max_runs, skip_unsupported=skip_unsupported)


def overridden(exp: Experiment, provider: str | None, model: str | None) -> Experiment:
    """``exp`` on ``provider`` and/or ``model`` alone (``--provider``, ``--model``): the file's
    block of that provider keeps its settings; another provider keeps only the file's
    model(s); the variants' pins of what is overridden go."""
    blocks = exp.providers()
    models = exp.model if exp.model is not None else blocks[0].model
    if provider:
        own = next((b for b in blocks if b.name == provider), None)
        blocks = [own or ProviderSettings(name=provider, model=None if exp.model else models)]
    if model:
        blocks = [b.model_copy(update={"model": None}) for b in blocks]
    variants = [
        v.model_copy(
            update={
                "provider": None if provider else v.provider,
                "model": None if model else v.model,
            }
        )
        for v in exp.variants or []
    ]
    return exp.model_copy(
        update={
            "provider": blocks if len(blocks) > 1 else blocks[0],
            "model": model or exp.model,
            "variants": variants or exp.variants,
        }
    )


def pricing(
    name: str, config: ProviderConfig, overrides: dict[str, dict[str, float]] | None = None
) -> Pricing:
    """What the plan needs of provider ``name`` with ``config``: paid, the price of a request
    on ``config.model`` (``overrides`` on top of its prices), the seconds of one run, and what
    that model on that host cannot do with a request."""
    cls = provider_class(name)
    model = config.model
    return Pricing(
        paid=bool(cls.paid),
        price=lambda request: cls.price(request, model, overrides),
        seconds_per_run=cls.seconds_per_run(config),
        problems=lambda request: cls.problems(request, model),
        seed_problem=cls.seed_refused(config),
    )


def check_thresholds(exp: Experiment) -> CheckThresholds:
    """The experiment's ``checks:`` as CheckThresholds (an unknown or bad field: exit 2)."""
    from veolab.analysis import CheckThresholds

    try:
        return CheckThresholds.parse(exp.checks)
    except ValidationError as exc:
        raise ExperimentError(f"{_where(exp)}: checks: {format_validation_error(exc)}") from exc


def _where(exp: Experiment) -> str:
    return str(exp.source_path or "the experiment file")


def provider_config(
    settings: ProviderSettings | None,
    name: str,
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    max_in_flight: int | None = None,
    submits_per_minute: float | None = None,
    where: str = "the experiment file",
) -> ProviderConfig:
    """The config of provider ``name`` from an experiment's ``provider:`` settings (None: the
    defaults), validated by that provider's config class; the one place a plan, a sweep and
    a rerun build it, so they cannot drift.

    When ``name`` is not the provider the settings are for (``--provider``), only their
    ``model`` carries over: the rest are another host's settings. ``submits_per_minute`` (the
    experiment's ``rate_limit:``) applies to a provider that takes it and is ignored by one
    that does not (sim).
    """
    cls = provider_class(name)
    data: dict[str, Any] = {}
    if settings is not None:
        given = settings.fields()
        if settings.name == name:
            data = given
        elif "model" in given:
            data = {"model": given["model"]}
    extra: dict[str, Any] = {"model": model, "base_url": base_url, "api_key": api_key}
    extra["max_in_flight"] = max_in_flight
    if "submits_per_minute" in cls.config_class.model_fields:
        extra["submits_per_minute"] = submits_per_minute
    data |= {k: v for k, v in extra.items() if v}
    config, problems = cls.config_problems(data)
    if config is None:
        raise ExperimentError(
            f"{where}: "
            + "; ".join(
                f"provider.{loc}: {msg}" if loc else f"provider: {msg}" for loc, msg in problems
            )
        )
    return config


def check_settings(settings: ProviderSettings, where: str) -> None:
    """The experiment's ``provider:`` block checked by the provider it names."""
    provider_config(settings, settings.name, where=where)


def price_overrides(
    exp: Experiment, where: str, name: str | None = None
) -> dict[str, dict[str, float]]:
    """The experiment's ``prices:`` as a price table (by model, for every provider of the
    experiment that serves it), each model checked against the providers' models (``name``'s
    alone when given)."""
    names = [name] if name else list(dict.fromkeys(b.name for b in _all_blocks(exp)))
    models = [m for n in names for m in provider_class(n).models]
    table: dict[str, dict[str, float]] = {}
    for model, price in (exp.prices or {}).items():
        if models and model not in models:
            raise ExperimentError(
                f"{where}: prices.{model}: not a model of provider {' or '.join(names)}: use "
                + " or ".join(repr(m) for m in dict.fromkeys(models))
            )
        table[model] = {"audio": price.audio, "no_audio": price.no_audio}
    return table


def _all_blocks(exp: Experiment) -> list[ProviderSettings]:
    """The provider blocks of the file and of its variants' pins."""
    blocks = exp.providers()
    for v in exp.variants or []:
        if v.provider is not None:
            blocks += v.provider if isinstance(v.provider, list) else [v.provider]
    return blocks
