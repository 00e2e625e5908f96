"""A table of bad server answers, over real HTTP to `veolab sim serve`: each one ends the run
with exit 1 and a one-line reason, leaves nothing RUNNING and nothing in the store, and the spend
veolab counts is exactly what the host billed (billed spend is always counted, never paid twice).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.runner.ledger import Ledger

KEY = "answers-key-0000"

EXP = """\
name: answers
template: q.j2
vars: {{subject: a red fox}}
params: {{resolution: 720p, duration: 4}}
seeds: [1]
provider: {{name: segmind, mode: {mode}, base_url: "{url}", poll_interval: 0.05,
           poll_max_interval: 0.1, read_timeout: 60}}
"""

HTML = "<!doctype html><html><body>502 Bad Gateway</body></html>"

# (id, mode, fault, billed by the host, the run's fate in the next `veolab plan`)
CASES = [
    ("submit-400", "queue", {"route": "submit", "status": 400}, False, "new"),
    ("submit-401", "queue", {"route": "submit", "status": 401}, False, "new"),
    ("submit-402", "queue", {"route": "submit", "status": 402}, False, "new"),
    ("submit-403", "queue", {"route": "submit", "status": 403}, False, "new"),
    ("submit-404", "queue", {"route": "submit", "status": 404}, False, "new"),
    ("submit-406", "queue", {"route": "submit", "status": 406}, False, "new"),
    ("submit-422", "queue", {"route": "submit", "status": 422}, False, "new"),
    ("submit-html-400", "queue", {"route": "submit", "status": 400, "body": "html"}, False, "new"),
    ("submit-500s", "queue", {"route": "submit", "status": 500, "count": 20}, False, "new"),
    ("job-failed", "queue", {"route": "submit", "kind": "fail"}, False, "new"),
    (
        "submit-lost-after",
        "queue",
        {"route": "submit", "kind": "drop", "when": "after", "count": 20},
        True,
        "unknown",
    ),
    (
        "status-no-status",
        "queue",
        {"route": "status", "kind": "reply", "content": "{}", "count": 20},
        True,
        "lost",
    ),
    (
        "status-not-json",
        "queue",
        {
            "route": "status",
            "kind": "reply",
            "content": HTML,
            "content_type": "text/html",
            "count": 20,
        },
        True,
        "lost",
    ),
    ("status-404", "queue", {"route": "status", "status": 404, "count": 20}, True, "lost"),
    ("result-400", "queue", {"route": "result", "status": 400, "count": 20}, True, "lost"),
    ("result-403", "queue", {"route": "result", "status": 403, "count": 20}, True, "lost"),
    ("result-404", "queue", {"route": "result", "status": 404, "count": 20}, True, "lost"),
    ("result-422", "queue", {"route": "result", "status": 422, "count": 20}, True, "lost"),
    (
        "result-no-output",
        "queue",
        {"route": "result", "kind": "reply", "content": '{"status": "COMPLETED"}', "count": 20},
        True,
        "lost",
    ),
    (
        "result-html",
        "queue",
        {
            "route": "result",
            "kind": "reply",
            "content": HTML,
            "content_type": "text/html",
            "count": 20,
        },
        True,
        "lost",
    ),
    ("file-401", "queue", {"route": "file", "status": 401, "count": 20}, True, "lost"),
    ("file-403-expired", "queue", {"route": "file", "status": 403, "count": 20}, True, "lost"),
    ("file-404", "queue", {"route": "file", "status": 404, "count": 20}, True, "lost"),
    ("file-406", "queue", {"route": "file", "status": 406, "count": 20}, True, "lost"),
    (
        "file-not-mp4",
        "queue",
        {
            "route": "file",
            "kind": "reply",
            "content": "just text " * 200,
            "content_type": "video/mp4",
        },
        True,
        "lost",
    ),
    ("sync-400", "sync", {"route": "submit", "status": 400}, False, "new"),
    ("sync-422", "sync", {"route": "submit", "status": 422}, False, "new"),
    (
        "sync-200-html",
        "sync",
        {
            "route": "submit",
            "kind": "reply",
            "when": "after",
            "content": HTML,
            "content_type": "text/html",
        },
        True,
        "lost",
    ),
    (
        "sync-200-json-no-output",
        "sync",
        {"route": "submit", "kind": "reply", "when": "after", "content": '{"ok": true}'},
        True,
        "lost",
    ),
]


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "fault", "billed", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_answer_fails_one_run_cleanly(
    tmp_path: Path, sim_server, mode: str, fault: dict, billed: bool, after: str
) -> None:
    srv = sim_server(api_key=KEY)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "q.j2").write_text("{{ subject }} on a beach")
    path = tmp_path / "answers.yaml"
    path.write_text(EXP.format(mode=mode, url=srv.base_url))
    fault = {"message": "scripted fault", "retry_after": 0, **fault}
    srv.inject_faults(fault)

    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    reasons = [line for line in r.stderr.splitlines() if line.startswith("  run 0: ")]
    assert len(reasons) == 1, r.stderr  # one line saying what happened
    assert KEY not in r.output

    deadline = time.monotonic() + 60  # a job the client gave up on still completes (and bills)
    while srv.ledger()["held"] and time.monotonic() < deadline:
        time.sleep(0.05)
    jobs = srv.ledger()["jobs"]
    assert len(jobs) == (1 if billed else 0)
    host_billed = round(sum(j["cost"] for j in jobs), 4)
    assert f"spend ${host_billed:.2f}" in r.stdout  # billed spend is counted, never more
    if billed and after == "lost":
        assert "billed" in reasons[0]
    home = Path(os.environ["VEOLAB_HOME"])
    assert not list((home / "store").rglob("*.mp4")), "nothing half-written in the store"
    exp = mlflow.get_experiment_by_name("answers")
    runs = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert runs and not [x for x in runs if x.info.status == "RUNNING"]

    ledger = Ledger()
    try:
        assert ledger.spent("answers") == host_billed
    finally:
        ledger.close()
    plan = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert '"status": "' + after + '"' in plan.stdout
