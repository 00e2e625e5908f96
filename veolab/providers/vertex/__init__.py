"""The ``vertex`` provider: Veo on Google's Vertex AI (see docs/hosts.md).

    >>> from veolab.providers.vertex import VertexProvider
    >>> VertexProvider.models
    ('veo-3.1', 'veo-3.1-fast', 'veo-3', 'veo-3-fast')

Modules: :mod:`.provider` (the flow: submit, fetch the operation, the video), :mod:`.config`
(its settings), :mod:`.models` (the capability rows), :mod:`.auth` (the token and the
project), :mod:`.body` (the request body), :mod:`.client` (its requests and what is retried),
:mod:`.http` (Google's error bodies to typed errors).
"""

from veolab.providers.vertex.config import VertexConfig
from veolab.providers.vertex.models import VERTEX
from veolab.providers.vertex.provider import VertexProvider

__all__ = ["VERTEX", "VertexConfig", "VertexProvider"]
