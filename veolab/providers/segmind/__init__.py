"""The ``segmind`` provider: Veo 3.1 through Segmind's serverless API (see docs/hosts.md).

    >>> from veolab.providers.segmind import SegmindProvider, Limiter
    >>> SegmindProvider.key_env_var
    'SEGMIND_API_KEY'

Modules: :mod:`.provider` (the flow: submit, poll, download), :mod:`.config` (its settings),
:mod:`.client` (its requests: submits, reads, uploads), :mod:`.http` (its statuses and bodies to
typed errors), :mod:`.body` (the request body), :mod:`.output` (success shapes), :mod:`.result`
(seed, cost and credits). The client, retries, limiter, capped reads, redaction and the MP4
check are shared with every HTTP host: :mod:`veolab.providers._http`.
"""

from veolab.providers._http.limiter import Limiter, shared_limiter
from veolab.providers.segmind.config import SegmindConfig
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
