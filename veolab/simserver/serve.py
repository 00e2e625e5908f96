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

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from veolab._server import LocalServer, bind, serve_until_signal
from veolab._server import serve_in_thread as _in_thread
from veolab.errors import ConfigError
from veolab.simserver.app import create_app
from veolab.simserver.client import clear_faults, fetch_ledger, inject_faults, reset_server
from veolab.simserver.config import Fault, SimServerConfig
from veolab.simserver.state import SimState


class SimServer(LocalServer):
    """One server: a bound socket, the app, and a uvicorn server to run them."""

    def __init__(self, config: SimServerConfig | None = None, **overrides: Any) -> None:
        base = config or SimServerConfig()
        self.config = base.model_copy(update=overrides) if overrides else base
        if bool(self.config.tls_cert) != bool(self.config.tls_key):
            raise ConfigError("TLS needs both a certificate and its key (tls_cert, tls_key)")
        sock = bind(self.config.host, self.config.port)
        super().__init__(
            create_app(self.config),
            sock,
            log_level=self.config.log_level,
            access_log=self.config.access_log,
            lifespan="on",
            ssl_certfile=self.config.tls_cert,
            ssl_keyfile=self.config.tls_key,
        )
        self.host: str = sock.getsockname()[0]

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def state(self) -> SimState:
        """The live state (read it from the server's thread, or use :meth:`ledger`)."""
        return self.app.sim_state

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
    with _in_thread(
        SimServer(config, **overrides), what="veolab sim server", name="veolab-sim", timeout=timeout
    ) as srv:
        yield srv


def serve_forever(config: SimServerConfig, *, announce: Callable[[str], None] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; returns the exit code (0)."""
    srv = SimServer(config)

    def ready() -> None:
        message = f"veolab sim serving on {srv.base_url}"
        if announce:
            announce(message)
        else:
            print(message, flush=True)

    try:
        serve_until_signal(srv, on_ready=ready)  # the app's shutdown closes its render pool
    finally:
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
