"""The offline Veo simulator, in process (provider ``sim``); over HTTP: :mod:`veolab.simserver`.

>>> import asyncio
>>> from veolab.providers.sim import SimProvider
>>> from veolab.request import VideoRequest
>>> result = asyncio.run(SimProvider().generate(VideoRequest(prompt="calm blue sea",
...     resolution="720p", duration=4, seed=1)))
>>> result.video[4:8], result.seed
(b'ftyp', 1)
"""

from veolab.providers.sim.provider import SimConfig, SimProvider

__all__ = ["SimConfig", "SimProvider"]
