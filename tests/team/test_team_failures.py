"""A request that fails in a team's sweep fails once: the host is asked once, one FAILED run is
logged, and the other workers report it with the first one's reason instead of trying again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import generations, use_segmind_key
from helpers import segmind_project as project

KEY = "failures-key-0000"


@pytest.mark.slow
def test_a_failed_request_is_tried_once_per_sweep(
    tmp_path: Path, sim_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_segmind_key(monkeypatch, KEY)
    srv = sim_server(api_key=KEY, latency=0.5)
    # the first submit is accepted, then the host reports the job FAILED (not billed)
    srv.inject_faults({"route": "submit", "kind": "fail"})
    path = project(tmp_path, srv.base_url, "fails-once", seeds="[1, 2, 3]")
    env = {
        **os.environ,
        "SEGMIND_API_KEY": KEY,
        "VEOLAB_LEDGER_URI": f"sqlite:///{tmp_path / 'team-ledger.db'}",
    }
    cmd = [sys.executable, "-m", "veolab", "run", str(path), "--yes"]
    procs = [
        subprocess.Popen(
            cmd,
            env={**env, "VEOLAB_HOME": str(tmp_path / f"home-{i}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 1, out + err  # a failed run is every worker's failure
        assert "Traceback" not in err
        assert "failed 1" in out

    submits = [a for a in srv.ledger()["attempts"] if a["route"] == "submit"]
    assert len(submits) == 6  # 6 requests, each sent once: the failed one was not tried again
    assert len(srv.ledger()["jobs"]) == 5
    assert len(generations("fails-once", "FAILED")) == 1
    assert len(generations("fails-once", "FINISHED")) == 5
    errors = sorted(err for _, err in outs)
    said = [line for err in errors for line in err.splitlines() if ": failed: " in line]
    assert len(said) == 2, errors
    first, other = sorted(said, key=lambda line: "by another worker" in line)
    assert "(simulated failure)" in first
    assert "failed in this sweep by another worker" in other
    assert "(simulated failure)" in other  # the first one's reason
