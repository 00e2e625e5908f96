"""``veolab sim serve``: a local HTTP host backed by the simulator, faults included.

It speaks Segmind's protocol today, so the real ``segmind`` provider runs against it offline:
billing, rate limits, lost answers and a ledger that proves what was paid.

    from veolab.simserver import SimServerConfig, serve_in_thread
    with serve_in_thread(SimServerConfig(api_key="k", credits=5)) as srv:
        srv.inject_faults({"route": "submit", "status": 502})
        srv.ledger()["total_cost"]

The package, one job a module:

- :mod:`.config`: the server's settings and the faults it can inject
- :mod:`.state`: jobs, credits, the ledger, the rate window, the fault queue (no protocol)
- :mod:`.render`: renders off the event loop, the render pool, pre-rendered clips
- :mod:`.faults`: fault injection and the call record around any host's routes
- :mod:`.segmind`: Segmind's routes, bodies and errors (another host goes beside it)
- :mod:`.admin`: the simulator's own ``/_sim/*`` routes
- :mod:`.app`: the ASGI app, from the hosts' route groups and ``/_sim/*``
- :mod:`.serve`: running it (thread, subprocess, foreground)
- :mod:`.client`: talking to a running server from Python
"""

from veolab.simserver.app import create_app
from veolab.simserver.client import clear_faults, fetch_ledger, inject_faults, reset_server
from veolab.simserver.config import Fault, SimServerConfig, parse_rate
from veolab.simserver.serve import SimServer, serve_forever, serve_in_subprocess, serve_in_thread

__all__ = [
    "Fault",
    "SimServer",
    "SimServerConfig",
    "clear_faults",
    "create_app",
    "fetch_ledger",
    "inject_faults",
    "parse_rate",
    "reset_server",
    "serve_forever",
    "serve_in_subprocess",
    "serve_in_thread",
]
