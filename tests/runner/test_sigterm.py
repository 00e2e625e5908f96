"""SIGTERM stops a command the way Ctrl-C does: the interrupt paths run (MLflow runs closed as
KILLED, in-flight jobs kept in the ledger for the next run), and the exit code is 143 (130 for
SIGINT), with one line on stderr."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import click
import mlflow
import pytest
from click.testing import CliRunner

from veolab.cli.common import Terminated, handle_errors
from veolab.simserver import fetch_ledger, serve_in_subprocess
from veolab.tracking import schema as S

KEY = "sigterm-key-0000"
KEPT = "interrupted by SIGTERM: in-flight jobs are kept; run again to resume"


def _command(name: str, body) -> click.Command:
    """A command named ``name`` whose function (handle_errors reads its name) runs ``body``."""

    def callback() -> None:
        body()

    callback.__name__ = name
    return click.Command(name, callback=handle_errors(callback))


@pytest.mark.parametrize(
    ("name", "stderr"),
    [
        ("run", KEPT + "\n"),
        ("rerun", KEPT + "\n"),
        ("generate", KEPT + "\n"),
        ("check", "interrupted by SIGTERM\n"),
    ],
)
def test_terminated_is_exit_143_with_one_line(name: str, stderr: str) -> None:
    def body() -> None:
        raise Terminated

    r = CliRunner().invoke(_command(name, body), [])
    assert (r.exit_code, r.stdout, r.stderr) == (143, "", stderr)


def test_a_real_sigterm_interrupts_the_command_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    reached: list[str] = []

    def body() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the handler runs between two bytecodes
                time.sleep(0.01)
        except KeyboardInterrupt as exc:  # what the library's interrupt paths catch
            reached.append(type(exc).__name__)
            raise

    # Python's own SIGINT handler, as in a terminal (a background shell may ignore SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = CliRunner().invoke(_command("run", body), [])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (r.exit_code, r.stderr) == (143, KEPT + "\n")
    assert reached == ["Terminated"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_keyboard_interrupt_stays_exit_130() -> None:
    def body() -> None:
        raise KeyboardInterrupt

    r = CliRunner().invoke(_command("run", body), [])
    assert (r.exit_code, r.stderr) == (130, "Interrupted.\n")


# -- end to end: `veolab run` against the local Segmind, stopped while jobs are in flight ------

EXP = """\
name: {name}
template: q.j2
vars:
  subject: a red fox
  lighting: [bright sunny day, soft morning light]
params: {{resolution: 720p, duration: 4}}
seeds: [1]
concurrency: 2
provider: {{name: segmind, mode: queue, base_url: "{url}",
           poll_interval: 0.1, poll_max_interval: 0.3}}
"""

# `python -m veolab` with SIGINT as argv[1] says: Python's own handler ("default"), or ignored,
# as a shell starts a background job (so asyncio.run installs no SIGINT handler of its own)
LAUNCH = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler "
    "if sys.argv[1] == 'default' else signal.SIG_IGN); "
    "from veolab.cli import main; sys.argv = ['veolab', *sys.argv[2:]]; main()"
)


def claims(home: Path) -> list[tuple[str, str, str | None]]:
    """(key, state, job_id) of every claim in the ledger; [] while it is not there yet."""
    db = home / "ledger.db"
    if not db.is_file():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("SELECT key, state, job_id FROM claims ORDER BY key").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:  # created a moment ago, its tables not yet there
        return []


def submits(url: str) -> list[str]:
    """The job ids of every submit the host accepted."""
    attempts = fetch_ledger(url)["attempts"]
    return [a["request_id"] for a in attempts if a["route"] == "submit" and a["status"] == 200]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sigint", "sig", "code", "message"),
    [
        ("default", signal.SIGTERM, 143, KEPT),
        ("ignored", signal.SIGTERM, 143, KEPT),
        ("default", signal.SIGINT, 130, "Interrupted."),
    ],
)
def test_a_signal_mid_sweep_keeps_in_flight_jobs_and_the_next_run_resumes_them(
    tmp_path: Path, sigint: str, sig: int, code: int, message: str
) -> None:
    home = Path(os.environ["VEOLAB_HOME"])
    env = {**os.environ, "SEGMIND_API_KEY": KEY}
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    # each job stays PROCESSING for 10 s: the signal lands while both are in flight
    with serve_in_subprocess("--api-key", KEY, "--latency", "10") as url:
        (tmp_path / "prompts").mkdir()
        (tmp_path / "prompts" / "q.j2").write_text("{{ subject }} on a beach, {{ lighting }}")
        path = tmp_path / "stopped.yaml"
        path.write_text(EXP.format(name="stopped", url=url))
        cmd = [sys.executable, "-c", LAUNCH, sigint, "run", str(path), "--yes"]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        deadline = time.monotonic() + 120
        while [state for _, state, job in claims(home) if job] != ["submitted", "submitted"]:
            assert proc.poll() is None, f"exited {proc.returncode} early: {proc.communicate()}"
            assert time.monotonic() < deadline, f"jobs never in flight: {claims(home)}"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err
        assert err.splitlines()[-1] == message
        assert "Traceback" not in err and "exception" not in err

        # the sweep is closed as KILLED, nothing is left RUNNING
        exp = mlflow.get_experiment_by_name("stopped")
        runs = mlflow.search_runs([exp.experiment_id], output_format="list")
        assert [x.info.status for x in runs if x.info.status == "RUNNING"] == []
        sweep_states = [x.info.status for x in runs if x.data.tags.get(S.KIND) == S.KIND_SWEEP]
        assert sweep_states == ["KILLED"]
        # the in-flight jobs are kept in the ledger, with the ids the host gave them
        kept = claims(home)
        assert [state for _, state, _ in kept] == ["submitted", "submitted"]
        accepted = sorted(submits(url))
        assert sorted(job for _, _, job in kept) == accepted

        # the next run resumes them: nothing is paid again
        r = subprocess.run(
            [sys.executable, "-m", "veolab", "run", str(path), "--yes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        # the host billed each request once (it bills a job when it completes) and saw no new
        # submit: the resumed run polled the two jobs it was already running
        jobs = fetch_ledger(url)["jobs"]
        assert sorted(j["request_id"] for j in jobs) == accepted
        assert set(Counter(j["request_hash"] for j in jobs).values()) == {1}
        assert sorted(submits(url)) == accepted
        done = mlflow.search_runs(
            [exp.experiment_id],
            f"tags.`{S.KIND}` = '{S.KIND_GENERATION}' AND attributes.status = 'FINISHED'",
            output_format="list",
        )
        assert sorted(x.data.tags[S.PROVIDER_REQUEST_ID] for x in done) == sorted(
            job for _, _, job in kept
        )
