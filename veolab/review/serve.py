"""Serving a review: a bound socket, the app, uvicorn; in the foreground or in a thread.

    server = ReviewServer(session, host="127.0.0.1", port=0)
    server.url                        # http://127.0.0.1:<port>/ (with ?token=... when one is set)
    serve_forever(server)             # until SIGINT or SIGTERM

    with serve_in_thread(session) as server:      # tests
        httpx.get(server.url + "api/config")

Safe by default: a host that is not loopback (``0.0.0.0``, a LAN address) gets a token
(``secrets.token_urlsafe``) unless one is given, and the app refuses API and video requests
without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from veolab.errors import ConfigError
from veolab.review.app import create_app
from veolab.review.session import ReviewSession


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_for(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: ``token`` when given, else a new one
    (``secrets.token_urlsafe``) for a host that is not loopback, else none."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(16)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port, "
            "or --port 0 for any free one)"
        ) from exc
    return sock


class ReviewServer:
    """One review server: its socket, app and uvicorn server."""

    def __init__(
        self,
        session: ReviewSession,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        reviewer: str | None = None,
    ) -> None:
        import uvicorn  # lazy: keeps `veolab --help` light

        self.session = session
        self.token = token_for(host, token)
        self.app = create_app(session, token=self.token, reviewer=reviewer)
        self.sock = _bind(host, port)
        self.host = host
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            http="h11",
            ws="none",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        # the caller decides what a signal does (serve_forever stops; tests stop by hand)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = socket.gethostname()  # a wildcard is not an address to open
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def url(self) -> str:
        """The link to open: the page, with the token when one is needed."""
        return self.base_url + (f"?token={quote(self.token)}" if self.token else "")

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started and not task.done():
            await asyncio.sleep(0.01)
        if self.server.started and on_ready is not None:
            on_ready()
        await task

    def stop(self) -> None:
        self.server.should_exit = True


def serve_forever(server: ReviewServer, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM; either stops the server gracefully (a vote in
    flight is answered first) and returns."""

    def on_signal(signum: int, frame: Any) -> None:
        server.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(server.serve(on_ready=on_ready))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.sock.close()


@contextlib.contextmanager
def serve_in_thread(
    session: ReviewSession, *, timeout: float = 30.0, **options: Any
) -> Iterator[ReviewServer]:
    """A server in a background thread for the ``with`` block, stopped after."""
    server = ReviewServer(session, **options)
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(on_ready=ready.set))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"veolab-review-{server.port}", daemon=True)
    thread.start()
    if not ready.wait(timeout) or failure or not server.server.started:
        server.stop()
        thread.join(timeout)
        server.sock.close()
        raise RuntimeError(f"the review server did not start: {failure[:1] or 'timeout'}")
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout)
        server.sock.close()


__all__ = ["ReviewServer", "is_loopback", "serve_forever", "serve_in_thread", "token_for"]
