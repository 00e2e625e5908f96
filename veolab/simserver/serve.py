"""Running ``veolab sim serve``: in a thread, in a subprocess or in the foreground.

In a test or a benchmark, start it in a thread on a free port::

    from veolab.simserver import SimServerConfig, serve_in_thread
    with serve_in_thread(SimServerConfig(api_key="k", latency=0.5)) as srv:
        srv.base_url              # http://127.0.0.1:<port>
        srv.inject_faults({"route": "submit", "status": 502})
        srv.ledger()["jobs"]

From a shell (or as a subprocess, :func:`serve_in_subprocess`)::

    python -m veolab sim serve --host 127.0.0.1 --port 8765 --api-key k --latency 5
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from veolab.errors import ConfigError
from veolab.simserver.app import create_app
from veolab.simserver.client import clear_faults, fetch_ledger, inject_faults, reset_server
from veolab.simserver.config import Fault, SimServerConfig
from veolab.simserver.state import SimState


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only for that proto
    # (without it every keep-alive answer waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class SimServer:
    """One server: a bound socket, the app, and a uvicorn server to run them."""

    def __init__(self, config: SimServerConfig | None = None, **overrides: Any) -> None:
        import uvicorn  # lazy: keeps `veolab --help` light

        base = config or SimServerConfig()
        self.config = base.model_copy(update=overrides) if overrides else base
        self.app = create_app(self.config)
        self.sock = _bind(self.config.host, self.config.port)
        self.host, self.port = self.sock.getsockname()[:2]
        if bool(self.config.tls_cert) != bool(self.config.tls_key):
            raise ConfigError("TLS needs both a certificate and its key (tls_cert, tls_key)")
        uv_config = uvicorn.Config(
            self.app,
            log_level=self.config.log_level,
            access_log=self.config.access_log,
            http="h11",
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=2,
            ssl_certfile=self.config.tls_cert,
            ssl_keyfile=self.config.tls_key,
        )
        self.server = uvicorn.Server(uv_config)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def state(self) -> SimState:
        """The live state (read it from the server's thread, or use :meth:`ledger`)."""
        return self.app.sim_state

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

    # -- conveniences over HTTP -------------------------------------------------------------

    def ledger(self) -> dict[str, Any]:
        return fetch_ledger(self.base_url)

    def inject_faults(self, *faults: Fault | dict[str, Any]) -> list:
        return inject_faults(self.base_url, *faults)

    def clear_faults(self) -> None:
        clear_faults(self.base_url)

    def reset(self) -> None:
        reset_server(self.base_url)


@contextlib.contextmanager
def serve_in_thread(
    config: SimServerConfig | None = None, *, timeout: float = 10.0, **overrides: Any
) -> Iterator[SimServer]:
    """Run a server in a background thread for the ``with`` block; stop it after."""
    srv = SimServer(config, **overrides)
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(srv.serve(on_ready=ready.set))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"veolab-sim-{srv.port}", daemon=True)
    thread.start()
    if not ready.wait(timeout) or failure or not srv.server.started:
        srv.stop()
        thread.join(timeout)
        raise RuntimeError(f"veolab sim server did not start: {failure[:1] or 'timeout'}")
    try:
        yield srv
    finally:
        srv.stop()
        thread.join(timeout)
        srv.sock.close()


def serve_forever(config: SimServerConfig, *, announce: Callable[[str], None] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; returns the exit code (0)."""
    srv = SimServer(config)

    def ready() -> None:
        message = f"veolab sim serving on {srv.base_url}"
        if announce:
            announce(message)
        else:
            print(message, flush=True)

    def on_signal(signum: int, frame: object) -> None:
        # graceful either way: open connections get timeout_graceful_shutdown (2 s) to finish
        srv.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(srv.serve(on_ready=ready))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        srv.sock.close()  # the app's shutdown closed its render pool
        sys.stdout.flush()
    return 0


@contextlib.contextmanager
def serve_in_subprocess(*options: str, timeout: float = 60.0) -> Iterator[str]:
    """``veolab sim serve --host 127.0.0.1 --port 0 OPTIONS`` in its own process; yields its base
    URL once it announced itself, and stops it (SIGTERM, then SIGKILL) on exit. For tests and
    benchmarks that must not share the caller's interpreter (a kill -9 of the client, CPU use)."""
    import subprocess
    import time

    cmd = [sys.executable, "-m", "veolab", "sim", "serve", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and "serving on" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"veolab sim serve exited with {proc.returncode}")
        if "serving on" not in line:
            raise RuntimeError("veolab sim serve did not announce itself in time")
        yield line.strip().rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
