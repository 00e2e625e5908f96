"""A dead colleague's claim whose submit was sent and never answered (``sending``: it may be
billed) is an honest unknown for the worker that takes it over: reported, not paid again unless
``--resubmit-unknown``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import invoke, plan_json, use_segmind_key
from helpers import segmind_project as project

from veolab.runner.ledger import Ledger
from veolab.runner.ledger_db import claims, payments

KEY = "takeover-key-0000"


def test_a_dead_colleagues_unknown_submit_is_not_paid_blindly(
    tmp_path: Path, sim_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_segmind_key(monkeypatch, KEY)
    srv = sim_server(api_key=KEY, latency=0.2)
    ledger = f"sqlite:///{tmp_path / 'team-ledger.db'}"
    monkeypatch.setenv("VEOLAB_LEDGER_URI", ledger)
    path = project(tmp_path, srv.base_url, "unknown")
    run = plan_json(path)["runs"][0]
    key = f"{run['provider']}/{run['model']}/{run['request_hash']}"
    # a worker on another machine sent this submit and died before the answer: its lease ran
    # out a minute ago
    Ledger().close()
    engine = sa.create_engine(ledger)
    then = time.time() - 120
    with engine.begin() as c:
        c.execute(
            claims.insert().values(
                key=key,
                experiment="unknown",
                state="sending",
                owner="ana-laptop:4242:99",
                lease_until=then + 60,
                created=then,
                updated=then,
            )
        )
        c.execute(
            payments.insert().values(
                key=key,
                experiment="unknown",
                status="sending",
                estimate=0.8,
                owner="ana-laptop:4242:99",
                created=then,
                updated=then,
            )
        )
    engine.dispose()

    r = invoke("run", str(tmp_path / "unknown.yaml"))
    assert r.exit_code == 1, r.output
    assert "| generated 1, skipped 1 |" in r.output
    assert (
        f"run {run['index']}: skipped: outcome unknown: a submit was sent and its answer lost"
        in r.output
    )
    assert len(srv.ledger()["jobs"]) == 1  # the other request only

    r = invoke("run", str(tmp_path / "unknown.yaml"), "--resubmit-unknown")
    assert r.exit_code == 0, r.output
    assert "generated 1, already done 1" in r.output
    assert [j["request_hash"] for j in srv.ledger()["jobs"]][-1] == run["request_hash"]
