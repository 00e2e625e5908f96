"""The ``fal`` provider: Google's Veo 3.1 on fal.ai's queue API (see docs/hosts.md).

    >>> from veolab.providers.fal import FalProvider
    >>> FalProvider.key_env_var, FalProvider.models
    ('FAL_KEY', ('veo-3.1', 'veo-3.1-fast'))

Modules: :mod:`.provider` (the flow: submit, poll, result, download), :mod:`.config` (its
settings, auto_fix among them), :mod:`.capabilities` (its models, rules and prices),
:mod:`.body` (the app and input of a request), :mod:`.http` (its key, errors, what is safe to
repeat, what its safety checks refused). The client, retries, capped reads and redaction are
shared: :mod:`veolab.providers._http`.
"""

from veolab.providers.fal.capabilities import FAL
from veolab.providers.fal.config import FalConfig
from veolab.providers.fal.provider import DEFAULT_BASE_URL, FalProvider, resolve_base_url

__all__ = ["DEFAULT_BASE_URL", "FAL", "FalConfig", "FalProvider", "resolve_base_url"]
