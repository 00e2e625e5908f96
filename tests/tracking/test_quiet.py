"""MLflow's "🏃 View run ... at" lines stay out of `veolab run`'s output on a tracking server.

A real `mlflow server` on 127.0.0.1 (stopped when the test ends, killed if it hangs); each
`veolab run` is its own process, as a user runs it, its stdout and stderr read whole.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veolab.tracking.quiet import SUPPRESS_URLS

EXPERIMENT = """\
name: quiet
template: q.j2
vars:
  light: [bright sunny day, dark moonlit night]
params: {{resolution: 720p, duration: 4}}
seeds: {seeds}
provider: {{name: sim}}
concurrency: 2
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(path: Path, uri: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != SUPPRESS_URLS} | env
    cmd = [sys.executable, "-m", "veolab", "run", str(path), "--tracking-uri", uri]
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_run_on_a_tracking_server_prints_no_view_run_lines(tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"),
            *("--artifacts-destination", str(tmp_path / "server-artifacts")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300  # mlflow server starts in seconds, or minutes under load
        while time.time() < deadline:
            try:
                if httpx.get(f"{uri}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("mlflow server did not start")
        (tmp_path / "prompts").mkdir()
        (tmp_path / "prompts" / "q.j2").write_text("a lighthouse on a cliff, {{ light }}")
        path = tmp_path / "quiet.yaml"
        path.write_text(EXPERIMENT.format(seeds="[1]"))

        quiet = _run(path, uri)
        assert quiet.returncode == 0, quiet.stderr
        out = quiet.stdout + quiet.stderr
        assert "View run" not in out and "View experiment" not in out
        assert "quiet: 2 runs | generated 2 | spend" in quiet.stdout  # veolab's summary, not buried

        # the user's own setting wins: MLflow prints its links, two lines a run it ends
        # (the 2 new generations and the sweep's parent run)
        path.write_text(EXPERIMENT.format(seeds="[1, 2]"))
        loud = _run(path, uri, **{SUPPRESS_URLS: "false"})
        assert loud.returncode == 0, loud.stderr
        assert "quiet: 4 runs | generated 2, already done 2 | spend" in loud.stdout
        lines = loud.stdout.splitlines()
        views = [ln for ln in lines if ln.startswith("🏃 View run ")]
        assert len(views) == 3 and all(f" at: {uri}/#/experiments/" in ln for ln in views)
        assert len([ln for ln in lines if ln.startswith("🧪 View experiment at: ")]) == 3
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:  # a loaded machine: never leave the server behind
            server.kill()
            server.wait()
