"""Fixtures of the MLflow tests: a real ``mlflow server`` over a store a test prepared.

    def test_page(mlflow_ui, browser):
        url = mlflow_ui("sqlite:////tmp/.../mlflow.db")   # http://127.0.0.1:<free port>

Every server started is stopped when the module's tests are done (SIGTERM to its process group,
SIGKILL after 20 s), however they end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

START_S = 300  # a loaded machine (load 8 on 2 cores) takes minutes to start mlflow server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(uri: str, folder: Path) -> Iterator[str]:
    """``mlflow server`` over ``uri`` on a free local port, run in ``folder`` (its log there)."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "NO_PROXY": "127.0.0.1"}
    log = folder / f"mlflow-server-{port}.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer /health within {START_S} s (log: {log})")
            time.sleep(0.3)
        yield url
    finally:
        # the server and its workers, all in the session it leads
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def mlflow_ui(tmp_path_factory: pytest.TempPathFactory):
    """mlflow_ui(uri) -> the address of ``mlflow server`` (its UI and REST API) over the store
    ``uri``, on 127.0.0.1 and a free port; started once per call, stopped after the module."""
    with contextlib.ExitStack() as stack:

        def start(uri: str) -> str:
            folder = tmp_path_factory.mktemp("mlflow-server")
            return stack.enter_context(_server(uri, folder))

        yield start
