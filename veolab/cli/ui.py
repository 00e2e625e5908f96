"""``veolab ui``: the MLflow UI on veolab's store, or the tracking server's address.

A local store (SQLite or a folder) gets ``mlflow ui`` as a child process in its own process
group; SIGINT (Ctrl-C) and SIGTERM (``kill``) stop the whole group, its web workers included
(SIGKILL after a grace period), so nothing is left serving. A remote store
(``MLFLOW_TRACKING_URI=http://...``) already has its UI: the server's address is printed (and
opened with ``--open``) instead of starting a second UI that could not open that store anyway.
A local store that does not exist is an error, not a new empty store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from veolab.cli.common import handle_errors

GRACE_S = 10.0  # how long mlflow ui may take to stop on SIGTERM before it is killed


def _open_browser(url: str) -> None:
    import webbrowser

    if not webbrowser.open(url):
        click.echo(f"could not open a browser: open {url} yourself", err=True)


def _wait_until_serving(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=2.0)
            return True
        except httpx.HTTPError:
            time.sleep(0.3)
    return False


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it has not exited in ``grace``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:  # workers may outlive their parent: the group goes either way
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@click.command()
@click.option(
    "--tracking-uri",
    default=None,
    help="MLflow store (default: MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a web browser.")
@handle_errors
def ui(tracking_uri: str | None, host: str, port: int, open_browser: bool) -> None:
    """Start the MLflow UI on the store veolab uses (Ctrl-C stops it); for a tracking server,
    print its address."""
    from veolab.errors import StoreNotFoundError
    from veolab.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        click.echo(f"MLflow UI of the tracking server: {uri}")
        if open_browser:
            _open_browser(uri)
        return
    local = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
    if local is not None and not Path(local).is_file():
        raise StoreNotFoundError(uri)
    url = f"http://{host}:{port}"
    click.echo(f"MLflow UI for {uri} on {url} (Ctrl-C stops it)", err=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), start_new_session=True)
    try:
        if open_browser and _wait_until_serving(url, proc):
            _open_browser(url)
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (handle_errors turns it into 130 or 143)
        stop_group(proc)
        raise
    except BaseException:
        stop_group(proc)
        raise
    if code != 0:
        click.echo(f"Error: mlflow ui exited with status {code}", err=True)
        sys.exit(1)
