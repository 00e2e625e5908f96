"""The ASGI app of ``veolab sim serve``: host protocols and ``/_sim/*`` over one state.

A host protocol is a module with ``routes(state) -> list[BaseRoute]`` (:mod:`.segmind`); the
app puts the routes of each host in ``hosts`` before the simulator's own (:mod:`.admin`), all
over one :class:`~.state.SimState`. The app's startup opens the state (its render pool), its
shutdown cancels the running jobs and closes the pool.

    >>> from veolab.simserver import SimServerConfig, create_app
    >>> app = create_app(SimServerConfig(credits=5))
    >>> app.sim_state.credits
    5.0
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import Lifespan, Receive, Scope, Send

from veolab.simserver import admin, fal, replicate, segmind, vertex
from veolab.simserver.config import SimServerConfig
from veolab.simserver.faults import RAW_SEND
from veolab.simserver.state import SimState

#: a host protocol's routes over the server's state
RouteGroup = Callable[[SimState], list[BaseRoute]]

#: the hosts ``veolab sim serve`` speaks for
HOSTS: tuple[RouteGroup, ...] = (
    segmind.routes,
    vertex.routes,
    replicate.routes,
    fal.routes,
)


class SimApp:
    """Outermost ASGI layer: keeps the server's own ``send`` so a fault can cut the socket."""

    def __init__(self, app: Starlette, state: SimState) -> None:
        self.app = app
        self.sim_state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _lifespan(state: SimState) -> Lifespan[Starlette]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.open()
        try:
            yield
        finally:
            state.close()

    return lifespan


def create_app(
    config: SimServerConfig | None = None, hosts: Sequence[RouteGroup] = HOSTS
) -> SimApp:
    """The ASGI app; ``app.sim_state`` is its :class:`SimState`."""
    state = SimState(config or SimServerConfig())
    routes = [route for host in hosts for route in host(state)]
    return SimApp(
        Starlette(routes=[*routes, *admin.routes(state)], lifespan=_lifespan(state)), state
    )
