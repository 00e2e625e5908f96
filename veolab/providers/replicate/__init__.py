"""The ``replicate`` provider: Google's Veo models on Replicate's predictions API (see
docs/hosts.md).

    >>> from veolab.providers.replicate import ReplicateProvider
    >>> ReplicateProvider.key_env_var, ReplicateProvider.models[0]
    ('REPLICATE_API_TOKEN', 'veo-3.1')

Modules: :mod:`.provider` (the flow: create, wait, poll, download), :mod:`.config` (its
settings), :mod:`.capabilities` (its models, rules and prices), :mod:`.body` (the prediction's
input), :mod:`.http` (its key, errors and failures). The client, retries, capped reads and
redaction are shared: :mod:`veolab.providers._http`.
"""

from veolab.providers.replicate.capabilities import REPLICATE
from veolab.providers.replicate.config import ReplicateConfig
from veolab.providers.replicate.provider import (
    DEFAULT_BASE_URL,
    ReplicateProvider,
    resolve_base_url,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "REPLICATE",
    "ReplicateConfig",
    "ReplicateProvider",
    "resolve_base_url",
]
