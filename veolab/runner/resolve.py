"""What a plan, a sweep and a rerun need from their provider, resolved in one place.

    >>> exp = load_experiment("experiments/quickstart.yaml")       # doctest: +SKIP
    >>> provider_config(exp.provider, "sim").latency               # doctest: +SKIP
    0.0

The experiment's ``provider:`` block is validated by the provider's own config class; the
experiment stage only checks its shape. Every problem is an ExperimentError naming the file
and the field (exit 2), raised before anything is paid or logged.
"""

from __future__ import annotations

from typing import Any

from veolab.errors import ExperimentError
from veolab.experiment.schema import Experiment, ProviderSettings
from veolab.providers import ProviderConfig, provider_class


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
