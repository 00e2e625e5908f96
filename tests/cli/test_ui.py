"""`veolab ui`: the address of the experiment's runs view, a missing store or experiment an
error, an unreachable server a tracking error, and a kill stops every process the UI started
(tests/tracking/test_mlflow_ui.py opens the address on a real server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from veolab.cli import cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_tracking_server_that_does_not_answer_is_a_tracking_error(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    r = CliRunner().invoke(cli, ["ui", "--tracking-uri", "http://127.0.0.1:9/"])
    assert r.exit_code == 3, r.output
    assert r.output.startswith("Error: MLflow search failed on http://127.0.0.1:9/: ")
    assert r.output.endswith(
        "; is the server running? (check --tracking-uri or MLFLOW_TRACKING_URI)\n"
    )
    assert r.output.count("\n") == 1


def test_an_experiment_that_is_not_there_is_named_with_those_that_are(tmp_path: Path):
    from veolab.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    Tracker(uri).experiment_id("made-by-veolab")
    r = CliRunner().invoke(cli, ["ui", "made-by-someone", "--tracking-uri", uri])
    assert (r.exit_code, r.output) == (
        2,
        f"Error: no experiment named 'made-by-someone' in {uri} (experiments: made-by-veolab)\n",
    )


def test_a_missing_local_store_is_an_error_and_is_not_created(tmp_path: Path):
    db = tmp_path / "elsewhere" / "mlflow.db"
    r = CliRunner().invoke(cli, ["ui", "--tracking-uri", f"sqlite:///{db}"])
    assert r.exit_code == 2
    assert r.output == (
        f"Error: no MLflow store at sqlite:///{db} (run veolab run first, or set "
        "MLFLOW_TRACKING_URI or --tracking-uri to your store)\n"
    )
    assert not db.parent.exists()


@pytest.mark.slow  # mlflow ui takes 10 s to a few minutes to start on a loaded machine
def test_sigterm_stops_the_ui_and_every_worker(tmp_path: Path):
    from veolab.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    exp_id = Tracker(uri).experiment_id("made-by-veolab")  # an existing store
    port = _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "veolab", "ui", "made-by-veolab"),
            *("--tracking-uri", uri, "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("the MLflow UI never answered")
        started = _descendants(proc.pid)
        assert started, "veolab ui started no process"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, err
        assert "interrupted by SIGTERM" in err
        assert err.startswith(
            f"MLflow UI for {uri}: http://127.0.0.1:{port}/#/experiments/{exp_id}/runs"
            "?workflowType=machine_learning "
            "(made-by-veolab; Ctrl-C stops it)\n"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(p) for p in started):
            time.sleep(0.2)
        assert not [p for p in started if _alive(p)], "processes left serving after the kill"
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            served = True
        except httpx.HTTPError:
            served = False
        assert not served
    finally:
        for pid in [proc.pid, *started]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def test_ratings_reach_mlflow_as_feedback_before_the_ui_starts(sweep, tmp_path: Path, capsys):
    """``veolab rate`` does not import MLflow; ``veolab ui`` adds what is missing first."""
    from helpers import NAME

    from veolab.cli.ui import _sync_feedback
    from veolab.tracking import schema as S
    from veolab.tracking.rating import rate
    from veolab.tracking.store import Tracker
    from veolab.tracking.traces import flush

    tracker = Tracker(sweep.isolated(tmp_path))
    run_id = next(iter(sweep.runs.values()))
    rate(run_id, 5, note="the one", tracker=tracker, reviewer="ana")
    _sync_feedback(tracker, NAME)
    _sync_feedback(tracker, NAME)  # a second time adds nothing
    err = capsys.readouterr().err
    assert err == "MLflow feedback: 1 new from ratings and votes (on their traces)\n"
    flush()
    trace = tracker.client.get_trace(tracker.get_run(run_id).data.tags[S.TRACE_ID])
    (fb,) = [a for a in trace.info.assessments if a.name == "human_score"]
    assert (fb.value, fb.source.source_id, fb.rationale) == (5.0, "ana", "the one")
