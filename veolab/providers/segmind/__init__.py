"""The ``segmind`` provider: Veo 3.1 through Segmind's serverless API (see docs/hosts.md).

    >>> from veolab.providers.segmind import SegmindProvider, Limiter
    >>> SegmindProvider.key_env_var
    'SEGMIND_API_KEY'

Modules: :mod:`.provider` (the flow: submit, poll, download), :mod:`.config` (its settings),
:mod:`.client` (httpx, key scoping, redirects), :mod:`.http` (statuses to typed errors, headers,
redaction), :mod:`.retry` (tenacity policy), :mod:`.output` (success shapes), :mod:`.limiter`
(the shared budget).
"""

from veolab.providers.segmind.config import SegmindConfig
from veolab.providers.segmind.limiter import Limiter, shared_limiter
from veolab.providers.segmind.provider import (
    DEFAULT_BASE_URL,
    DEFAULT_STORAGE_URL,
    SegmindProvider,
    resolve_base_url,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_STORAGE_URL",
    "Limiter",
    "SegmindConfig",
    "SegmindProvider",
    "resolve_base_url",
    "shared_limiter",
]
