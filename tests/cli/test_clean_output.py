"""What a person sees from a real `veolab run` process: veolab's own lines, no warning of a
library (MLflow's dataset and schema hints, tracing's exit notice) on stdout or stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_a_sim_run_prints_only_veolab_lines(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.j2").write_text("{{ subject }} at dusk, {{ light }}")
    (tmp_path / "e.yaml").write_text(
        "name: clean\ntemplate: p.j2\nvars: {subject: a fox, light: [soft, hard]}\n"
        "params: {resolution: 720p, duration: 4, generate_audio: false}\n"
        "seeds: [1]\nprovider: {name: sim}\n"
    )
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store, in the project folder
    r = subprocess.run(
        [sys.executable, "-m", "veolab", "run", "e.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    out, err = r.stdout.splitlines(), r.stderr.splitlines()
    assert out[0].startswith("clean: 2 runs | generated 2 | spend $0.00 | ")
    assert out[1].startswith("MLflow sweep run ") and len(out) == 3, out
    assert out[2] == "see its runs with: veolab runs clean, or open: veolab ui"
    # piped, progress is a line per change on stderr: veolab's own, nothing else
    assert err[0] == "clean: 2 runs on sim (veo-3.1), 0 already done, 2 to run"
    assert all(line.startswith("clean: ") for line in err), err
