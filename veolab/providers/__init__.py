"""Provider registry: every provider, built-in or third-party, comes from the
``veolab.providers`` entry-point group.

    >>> from veolab.providers import get_provider
    >>> sim = get_provider("sim", {"latency": 2.0})
    >>> sim.config.model, sim.config.latency
    ('veo-3.1', 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from veolab.errors import UnknownProviderError
from veolab.providers._http.verify import verify_mp4
from veolab.providers.base import Provider, ProviderConfig, ProviderResult, Timings

__all__ = [
    "Provider",
    "ProviderConfig",
    "ProviderResult",
    "Timings",
    "available_providers",
    "get_provider",
    "provider_class",
    "verify_mp4",
]

GROUP = "veolab.providers"


def available_providers() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def provider_class(name: str) -> type[Provider]:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            try:
                cls = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a configuration problem
                raise UnknownProviderError(
                    f"provider {name!r} failed to load ({type(exc).__name__}: {exc}): "
                    "reinstall the package that provides it"
                ) from exc
            if not (isinstance(cls, type) and issubclass(cls, Provider)):
                raise UnknownProviderError(f"entry point {name!r} is not a veolab Provider")
            return cls
    names = ", ".join(available_providers()) or "none (is veolab installed with pip install -e .?)"
    raise UnknownProviderError(f"unknown provider {name!r}: choose one of {names}")


def get_provider(
    name: str, config: ProviderConfig | Mapping[str, Any] | None = None, **settings: Any
) -> Provider:
    """Instantiate the provider registered as ``name``; ``config`` (a mapping or a config
    model) and ``settings`` are validated by its ``config_class`` (one ConfigError naming the
    provider and the field)."""
    cls = provider_class(name)
    if settings:
        base = config.dump() if isinstance(config, ProviderConfig) else dict(config or {})
        config = base | settings
    return cls(cls.configure(config))
