"""What a plan, a sweep and a rerun need from their provider and the analysis, resolved once.

    plan = plan_experiment(load_experiment("experiments/quickstart.yaml"))
    plan.provider, plan.model, plan.paid, plan.estimated_spend()
    # -> ('sim', 'veo-3.1', False, 0.0)

The experiment stage checks the shape of a file; what only the provider or the analysis can
judge is checked here: the ``provider:`` block by the provider's own config class, the models
of ``prices:`` by the provider's ``models``, ``checks:`` by ``CheckThresholds``. Every problem
is an ExperimentError naming the file and the field (exit 2), raised before anything is paid
or logged. Prices come from one path, :meth:`Provider.price`, with ``prices:`` on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from veolab.errors import ExperimentError
from veolab.experiment.plan import Plan, Pricing, build_plan
from veolab.experiment.schema import Experiment, ProviderSettings
from veolab.providers import ProviderConfig, provider_class
from veolab.request import format_validation_error

if TYPE_CHECKING:
    from veolab.analysis import CheckThresholds


def plan_experiment(
    exp: Experiment,
    provider: str | None = None,
    model: str | None = None,
    max_runs: int | None = None,
) -> Plan:
    """Every run of ``exp`` on its provider (or ``provider``, ``model``), priced by the
    provider with the experiment's ``prices:`` on top; the provider settings, the prices and
    the checks are validated first. What ``veolab plan`` and ``veolab run`` show and run."""
    where = _where(exp)
    name = provider or exp.provider.name
    if name != exp.provider.name:
        check_settings(exp.provider, where)  # the file's own block, even when overridden
    config = provider_config(exp.provider, name, model, where=where)
    check_thresholds(exp)
    return build_plan(
        exp,
        provider=name,
        model=config.model,
        pricing=pricing(name, config, price_overrides(exp, name, where)),
        max_runs=max_runs,
    )


def pricing(
    name: str, config: ProviderConfig, overrides: dict[str, dict[str, float]] | None = None
) -> Pricing:
    """What the plan needs of provider ``name`` with ``config``: paid, the price of a request
    on ``config.model`` (``overrides`` on top of its prices), the seconds of one run."""
    cls = provider_class(name)
    model = config.model
    return Pricing(
        paid=bool(cls.paid),
        price=lambda request: cls.price(request, model, overrides),
        seconds_per_run=cls.seconds_per_run(config),
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


def price_overrides(exp: Experiment, name: str, where: str) -> dict[str, dict[str, float]]:
    """The experiment's ``prices:`` as a price table, each model checked against provider
    ``name``'s."""
    models = provider_class(name).models
    table: dict[str, dict[str, float]] = {}
    for model, price in (exp.prices or {}).items():
        if models and model not in models:
            raise ExperimentError(
                f"{where}: prices.{model}: not a model of provider {name}: use "
                + " or ".join(repr(m) for m in models)
            )
        table[model] = {"audio": price.audio, "no_audio": price.no_audio}
    return table
