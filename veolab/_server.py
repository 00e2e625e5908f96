"""One local HTTP server on uvicorn, for ``veolab sim serve`` and ``veolab review``.

    server = LocalServer(app, bind("127.0.0.1", 0), lifespan="on")
    with serve_in_thread(server, name="veolab-sim", what="veolab sim server"):
        httpx.get(f"http://127.0.0.1:{server.port}/")
    serve_until_signal(server)   # in the foreground: SIGINT or SIGTERM stop it gracefully

The socket is bound before uvicorn starts (so port 0 gives the real port at once) with
``IPPROTO_TCP``: asyncio sets ``TCP_NODELAY`` on accepted sockets only for that protocol, and
without it every answer on a kept-alive connection waits about 40 ms for a delayed ACK. Signals
are the caller's: uvicorn installs no handlers of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``[::1]`` and ``::1`` alike); OSError as it is."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class LocalServer:
    """An ASGI app served by uvicorn on an already bound socket."""

    def __init__(self, app: Any, sock: socket.socket, **uvicorn_options: Any) -> None:
        import uvicorn  # lazy: keeps `veolab --help` light

        self.app, self.sock = app, sock
        self.port: int = sock.getsockname()[1]
        options = {
            "log_level": "warning",
            "access_log": False,
            "http": "h11",
            "ws": "none",
            "lifespan": "off",
            "timeout_graceful_shutdown": 2,
            **uvicorn_options,
        }
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        # the caller decides what a signal does (serve_until_signal stops; tests stop by hand)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until :meth:`stop`; ``on_ready`` runs once the socket accepts connections."""
        task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started and not task.done():
            await asyncio.sleep(0.01)
        if self.server.started and on_ready is not None:
            on_ready()
        await task

    def stop(self) -> None:
        self.server.should_exit = True


S = TypeVar("S", bound=LocalServer)


@contextlib.contextmanager
def serve_in_thread(server: S, *, what: str, name: str, timeout: float) -> Iterator[S]:
    """Serve in a background thread for the ``with`` block; stop, join and close after."""
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(on_ready=ready.set))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"{name}-{server.port}", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout) or failure or not server.server.started:
            raise RuntimeError(f"the {what} did not start: {failure[:1] or 'timeout'}")
        yield server
    finally:
        server.stop()
        thread.join(timeout)
        server.sock.close()


def serve_until_signal(server: LocalServer, on_ready: Callable[[], None] | None = None) -> None:
    """Serve in the foreground until SIGINT (Ctrl-C) or SIGTERM, either of which stops the
    server gracefully (open requests get ``timeout_graceful_shutdown`` to finish); the previous
    handlers are back and the socket closed when it returns."""

    def on_signal(signum: int, frame: Any) -> None:
        server.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(server.serve(on_ready=on_ready))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.sock.close()
