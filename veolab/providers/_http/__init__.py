"""HTTP machinery every host shares, so a new host imports it instead of copying Segmind's.

- :mod:`.config`: :class:`HTTPConfig`, the retry, rate and size-cap settings;
- :mod:`.client`: :class:`HTTPClient`, one injected httpx client per event loop, the API key
  sent only to the host's own origins, :class:`Reply`;
- :mod:`.retry`: the tenacity policy (what is retried, how long to wait) and transport errors;
- :mod:`.limiter`: jobs in flight and submits per minute, shared per account;
- :mod:`.download`: capped streamed reads; :mod:`.redact`: no key or signed URL in metadata;
- :mod:`.verify`: the MP4 check of whatever came back.

A host keeps what is its own: how its error bodies map to veolab errors, its request body and
the shapes of its answers (see ``veolab/providers/segmind/``).
"""

from veolab.providers._http.client import HTTPClient, Reply
from veolab.providers._http.config import HTTPConfig
from veolab.providers._http.limiter import Limiter, shared_limiter
from veolab.providers._http.retry import transport_error, with_retries
from veolab.providers._http.verify import verify_mp4

__all__ = [
    "HTTPClient",
    "HTTPConfig",
    "Limiter",
    "Reply",
    "shared_limiter",
    "transport_error",
    "verify_mp4",
    "with_retries",
]
