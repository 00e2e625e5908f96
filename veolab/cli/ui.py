"""``veolab ui``: the MLflow UI on veolab's store, or the tracking server's address.

Either way the address printed (and opened with ``--open``) is the experiment's runs table,
``<ui>/#/experiments/<id>/runs?workflowType=machine_learning``: of the experiment named, else
of the one whose newest generation is the most recent (as ``veolab runs`` picks it), else the
UI's home page when the store holds no veolab runs. An experiment that is not there is an
error that lists the store's experiments.

A local store (SQLite or a folder) gets ``mlflow ui`` as a child process in its own process
group; SIGINT (Ctrl-C) and SIGTERM (``kill``) stop the whole group, its web workers included
(SIGKILL after a grace period), so nothing is left serving. A remote store
(``MLFLOW_TRACKING_URI=http://...``) already has its UI: its address is printed instead of
starting a second UI that could not open that store anyway (a server that does not answer is a
tracking error, exit 3). A local store that does not exist is an error, not a new empty store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from veolab.cli.common import handle_errors

GRACE_S = 10.0  # how long mlflow ui may take to stop on SIGTERM before it is killed
# MLflow 3.17's UI picks its GenAI or "Model training" side by this parameter, else by what the
# browser last chose (GenAI by default), not by the experiment's mlflow.experimentKind tag
RUNS_VIEW = "runs?workflowType=machine_learning"


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


def _sync_feedback(tracker: Any, name: str) -> None:
    """Ratings and votes not yet on the generations' traces, as MLflow feedback (``veolab
    rate`` does not import MLflow, so its ratings reach MLflow's views here)."""
    from veolab.review.votes import VoteStore
    from veolab.tracking.feedback import sync_feedback

    exp_id = tracker.experiment_id(name, create=False)
    if exp_id is None:
        return
    try:
        store = VoteStore.existing()
        votes = []
        if store is not None:
            try:
                votes = [v.to_dict() for v in store.votes(name)]
            finally:
                store.close()
        n = sync_feedback(tracker, exp_id, votes)
    except Exception as exc:  # noqa: BLE001 - the UI is still worth starting
        click.echo(f"warning: ratings and votes not added as MLflow feedback: {exc}", err=True)
        return
    if n:
        click.echo(f"MLflow feedback: {n} new from ratings and votes (on their traces)", err=True)


def experiment_page(tracker: Any, base: str, name: str | None) -> tuple[str, str | None]:
    """The runs view of experiment ``name`` (else of the newest generation's experiment) under
    the UI at ``base``, and the experiment's name; ``base`` itself when there is none."""
    from veolab.errors import ConfigError
    from veolab.tracking import schema as S

    if name is not None:
        exp_id = tracker.experiment_id(name, create=False)
        if exp_id is None:
            names = [n for n in tracker.experiment_names() if n != "Default"]
            raise ConfigError(
                f"no experiment named {name!r} in {tracker.uri} "
                f"({'experiments: ' + ', '.join(names) if names else 'it holds none yet'})"
            )
    else:
        newest = tracker.newest_run(f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'")
        if newest is None:
            return base, None
        exp_id = newest.info.experiment_id
        name = tracker.experiment_name(exp_id)
    return f"{base.rstrip('/')}/#/experiments/{exp_id}/{RUNS_VIEW}", name


@click.command()
@click.argument("experiment", required=False)
@click.option(
    "--tracking-uri",
    default=None,
    help="MLflow store (default: MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a web browser.")
@handle_errors
def ui(
    experiment: str | None, tracking_uri: str | None, host: str, port: int, open_browser: bool
) -> None:
    """Start the MLflow UI on the store veolab uses, on EXPERIMENT's runs (default: the latest
    experiment's); Ctrl-C stops it. For a tracking server, print its address."""
    from veolab.tracking.store import Tracker, existing_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        page, name = experiment_page(Tracker(uri), uri, experiment)
        click.echo(f"MLflow UI of the tracking server: {page}" + (f" ({name})" if name else ""))
        if open_browser:
            _open_browser(page)
        return
    tracker = existing_store(uri)
    page, name = experiment_page(tracker, f"http://{host}:{port}", experiment)
    if name:
        _sync_feedback(tracker, name)
    url = f"http://{host}:{port}"
    what = f"{name}; " if name else ""
    click.echo(f"MLflow UI for {uri}: {page} ({what}Ctrl-C stops it)", err=True)
    # the registry (prompts) lives in the same store; naming it keeps MLflow from saying so
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--registry-store-uri", uri]
    cmd += ["--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), start_new_session=True)
    try:
        if open_browser and _wait_until_serving(url, proc):
            _open_browser(page)
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
