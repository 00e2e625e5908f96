"""Nothing generated twice across people (issue 15): a request a colleague already obtained is
re-logged from their MLflow run, or fetched again by its job id, on a machine whose own video
store lacks it, and never paid again."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa
from helpers import generations, invoke, use_segmind_key
from helpers import segmind_project as project

from veolab.runner.ledger_db import claims
from veolab.tracking import schema as S

KEY = "shared-key-0000"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_segmind_key(monkeypatch, KEY)


def _as(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str):
    """``veolab ARGS`` as a person whose VEOLAB_HOME (video store) is ``home``."""
    monkeypatch.setenv("VEOLAB_HOME", str(home))
    return invoke(*args)


def _video(run_id: str, tmp: Path) -> bytes:
    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=S.ART_VIDEO, dst_path=str(tmp)
        )
    ).read_bytes()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_colleagues_generation_is_relogged_from_mlflow_not_paid_again(
    store: str, tmp_path: Path, sim_server, monkeypatch: pytest.MonkeyPatch, request
) -> None:
    srv = sim_server(api_key=KEY, latency=0.2)
    if store == "postgresql":
        monkeypatch.setenv("VEOLAB_LEDGER_URI", request.getfixturevalue("pg_url"))
        uri = request.getfixturevalue("mlflow_on_pg")()
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
    else:
        monkeypatch.setenv("VEOLAB_LEDGER_URI", f"sqlite:///{tmp_path / 'team-ledger.db'}")
    ana = project(tmp_path, srv.base_url, "ana-scenes")
    ben = project(tmp_path, srv.base_url, "ben-scenes")  # the same two requests, another name

    r = _as(monkeypatch, tmp_path / "ana-home", "run", str(ana))
    assert r.exit_code == 0, r.output
    assert len(srv.ledger()["jobs"]) == 2

    r = _as(monkeypatch, tmp_path / "ben-home", "run", str(ben))
    assert r.exit_code == 0, r.output
    assert "| from store 2 |" in r.stdout
    assert len(srv.ledger()["jobs"]) == 2  # nothing paid again
    theirs = {x.data.tags[S.REQUEST_HASH]: x for x in generations("ana-scenes", "FINISHED")}
    mine = {x.data.tags[S.REQUEST_HASH]: x for x in generations("ben-scenes", "FINISHED")}
    assert set(mine) == set(theirs) and len(mine) == 2
    for h, run in mine.items():
        assert run.data.tags[S.SOURCE] == "store"
        assert run.data.metrics[S.COST] == theirs[h].data.metrics[S.COST]
        assert _video(run.info.run_id, tmp_path / "b" / h) == _video(
            theirs[h].info.run_id, tmp_path / "a" / h
        )
    # and ben's own store has the videos now
    assert len(list((tmp_path / "ben-home" / "store").rglob("*.mp4"))) == 2


def test_a_video_stored_but_never_logged_elsewhere_is_fetched_by_job_id(
    tmp_path: Path, sim_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = sim_server(api_key=KEY, latency=0.2)
    ledger = f"sqlite:///{tmp_path / 'team-ledger.db'}"
    monkeypatch.setenv("VEOLAB_LEDGER_URI", ledger)
    path = project(tmp_path, srv.base_url, "stored")
    r = _as(monkeypatch, tmp_path / "ana-home", "run", str(path))
    assert r.exit_code == 0, r.output
    # as if ana's worker died after keeping the videos, before logging them: its runs are not
    # in MLflow, the ledger says stored (with the job ids), the videos are on ana's disk only
    client = mlflow.MlflowClient()
    for run in generations("stored"):
        client.delete_run(run.info.run_id)
    engine = sa.create_engine(ledger)
    with engine.begin() as c:
        c.execute(claims.update().values(state="stored", run_id=None, attempt=None))
    engine.dispose()

    r = _as(monkeypatch, tmp_path / "ben-home", "run", str(path))
    assert r.exit_code == 0, r.output
    assert "| generated 2 |" in r.stdout
    assert len(srv.ledger()["jobs"]) == 2  # fetched again by job id, not paid again
    runs = generations("stored", "FINISHED")
    assert len(runs) == 2
    assert {x.data.tags[S.PROVIDER_REQUEST_ID] for x in runs} == {
        j["request_id"] for j in srv.ledger()["jobs"]
    }
