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

import contextlib
import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from veolab._server import LocalServer, bind, serve_until_signal
from veolab._server import serve_in_thread as _in_thread
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
    try:
        return bind(host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port, "
            "or --port 0 for any free one)"
        ) from exc


class ReviewServer(LocalServer):
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
        self.session = session
        self.token = token_for(host, token)
        super().__init__(
            create_app(session, token=self.token, reviewer=reviewer), _bind(host, port)
        )
        self.host = host

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


def serve_forever(server: ReviewServer, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM; either stops the server gracefully (a vote in
    flight is answered first) and returns."""
    serve_until_signal(server, on_ready)


@contextlib.contextmanager
def serve_in_thread(
    session: ReviewSession, *, timeout: float = 30.0, **options: Any
) -> Iterator[ReviewServer]:
    """A server in a background thread for the ``with`` block, stopped after."""
    with _in_thread(
        ReviewServer(session, **options),
        what="review server",
        name="veolab-review",
        timeout=timeout,
    ) as server:
        yield server


__all__ = ["ReviewServer", "is_loopback", "serve_forever", "serve_in_thread", "token_for"]
