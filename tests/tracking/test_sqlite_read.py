"""The fast path for local SQLite stores (tracking/sqlite_read.py): the same answers as
MlflowClient, and ``runs``, ``compare``, ``plan`` and ``rate`` never import MLflow there."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BRIGHT, DARK, NAME, invoke
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from veolab.errors import TrackingError
from veolab.tracking import schema as S
from veolab.tracking.sqlite_read import TESTED_REVISIONS, SqliteStore
from veolab.tracking.store import Tracker

GEN = f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'"


def _value(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else v


def _run(run) -> tuple:
    """Everything veolab reads of a run, NaN made comparable."""
    i, d = run.info, run.data
    return (
        i.run_id,
        i.run_name,
        i.experiment_id,
        i.status,
        i.start_time,
        i.end_time,
        i.lifecycle_stage,
        i.artifact_uri,
        dict(d.tags),
        dict(d.params),
        {k: _value(v) for k, v in d.metrics.items()},
    )


def _fast(runs) -> list:
    """The runs, checked to come from the fast path (not MLflow's entities)."""
    assert all(type(r).__module__ == "veolab.tracking.sqlite_read" for r in runs)
    return [_run(r) for r in runs]


def _filters(sweep) -> list[str]:
    """Every filter string veolab passes to Tracker.search."""
    return [
        "",
        GEN,
        f"{GEN} AND tags.`{S.PARENT_RUN_ID}` = '{sweep.parent_id}'",
        f"{GEN} AND attributes.status = 'FINISHED' AND tags.`{S.PROVIDER}` = 'sim' "
        f"AND tags.`{S.MODEL}` = 'veo-3.1'",
        "attributes.status = 'FINISHED'",
        f"attributes.run_id LIKE '{sweep.parent_id[:6]}%'",
    ]


def _store_with_deletions(sweep, tmp_path: Path) -> tuple[str, MlflowClient, str, str]:
    """A copy of the session sweep with one generation deleted and a deleted experiment
    holding one run; returns (uri, client, deleted run id, deleted experiment's run id)."""
    uri = sweep.isolated(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    gone = sweep.runs[(DARK, 3)]
    client.delete_run(gone)
    other = client.create_experiment("scrapped", artifact_location=(tmp_path / "a").as_uri())
    scrapped = client.create_run(other, tags={S.KIND: S.KIND_GENERATION}).info.run_id
    client.delete_experiment(other)
    return uri, client, gone, scrapped


def test_reads_equal_mlflow_client_with_deleted_runs(sweep, tmp_path):
    uri, client, gone, scrapped = _store_with_deletions(sweep, tmp_path)
    tracker = Tracker(uri)
    exp = sweep.experiment_id
    assert tracker._client is None  # nothing so far needed MLflow

    for flt in _filters(sweep):
        for order in (None, ["attributes.start_time ASC"], ["attributes.start_time DESC"]):
            want = client.search_runs([exp], flt, order_by=order, max_results=1000)
            assert _fast(tracker.search(exp, flt, order)) == [_run(r) for r in want], (flt, order)
    every = tracker.search(exp, GEN)
    assert len(every) == 5 and gone not in {r.info.run_id for r in every}  # deleted: left out

    # one run by id: deleted ones too, as MlflowClient.get_run
    for rid in (sweep.parent_id, sweep.runs[(BRIGHT, 1)], gone, scrapped):
        assert _fast([tracker.get_run(rid)]) == [_run(client.get_run(rid))]
    assert tracker.find_run("0" * 32) is None
    # a prefix: not deleted, active experiments only, oldest first
    assert _fast(tracker.runs_with_prefix(sweep.parent_id[:5])) == [
        _run(client.get_run(sweep.parent_id))
    ]
    assert tracker.runs_with_prefix(gone[:12]) == []
    assert tracker.runs_with_prefix(scrapped[:12]) == []
    newest = client.search_runs([exp], GEN, max_results=1)[0]
    assert _fast([tracker.newest_run(GEN)]) == [_run(newest)]

    # experiments: by name and id see deleted ones; the list does not
    assert tracker.experiment_id(NAME, create=False) == exp
    assert (
        tracker.experiment_id("scrapped", create=False)
        == client.get_experiment_by_name("scrapped").experiment_id
    )
    assert tracker.experiment_id("nope", create=False) is None
    assert tracker.experiment_name(exp) == NAME
    want_names = [e.name for e in client.search_experiments(max_results=50)]
    assert tracker.experiment_names() == want_names and "scrapped" not in want_names

    # what plan asks: request hash -> run id of every finished generation
    done = tracker.finished_by_hash(exp, "sim", "veo-3.1")
    assert len(done) == 5 and gone not in done.values()

    # artifacts beside the store, as MLflow lists and copies them
    rid = sweep.runs[(BRIGHT, 1)]
    for path in (None, S.ART_THUMBNAILS):
        want_paths = [f.path for f in client.list_artifacts(rid, path)]
        assert tracker.artifact_names(rid, path) == want_paths and want_paths
    copied = tracker.download(sweep.parent_id, S.ART_EXPERIMENT, tmp_path / "dl")
    assert copied == tmp_path / "dl" / S.ART_EXPERIMENT
    assert copied.read_text() == (sweep.root / "exp.yaml").read_text()
    assert tracker._client is None  # every read above: no MlflowClient made


def test_an_unknown_filter_or_schema_goes_to_mlflow(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    runs = tracker.search(sweep.experiment_id, "metrics.`cost_usd` >= 0")  # not one veolab writes
    assert len(runs) == 6 and type(runs[0]).__module__.startswith("mlflow.")

    # a store of another MLflow schema revision is MLflow's to read (and to refuse)
    db = Path(uri.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = 'abc123'")
    assert SqliteStore.open(uri) is None
    with pytest.raises(TrackingError, match="half-created or half-upgraded"):
        Tracker(uri).search(sweep.experiment_id, GEN)
    # not a database at all, and MLflow workspaces on: MLflow too
    (tmp_path / "junk.db").write_text("not sqlite")
    assert SqliteStore.open(f"sqlite:///{tmp_path / 'junk.db'}") is None
    assert SqliteStore.open(sweep.isolated(tmp_path / "w")) is not None
    os.environ["MLFLOW_ENABLE_WORKSPACES"] = "true"
    try:
        assert SqliteStore.open(sweep.isolated(tmp_path / "w")) is None
    finally:
        del os.environ["MLFLOW_ENABLE_WORKSPACES"]


def test_installed_mlflow_writes_a_tested_schema():
    """A new MLflow schema must be checked against sqlite_read before the fast path reads it."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert _get_latest_schema_revision() in TESTED_REVISIONS


def test_a_fast_rating_reads_back_identically_through_mlflow(sweep, tmp_path):
    from veolab.tracking.rating import get_rating, rate

    uri = sweep.isolated(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    rid = sweep.runs[(DARK, 1)]
    tracker = Tracker(uri)
    first = rate(rid[:8], 4, note="sharp fox", tracker=tracker)
    second = rate(rid, 2.5, tracker=tracker)
    assert tracker._client is None  # written without MLflow
    assert (first.run_id, first.score, first.note, first.ratings) == (rid, 4.0, "sharp fox", 1)
    assert (second.score, second.note, second.ratings) == (2.5, "sharp fox", 2)

    history = client.get_metric_history(rid, S.HUMAN_SCORE)
    assert [(m.step, m.value) for m in history] == [(0, 4.0), (1, 2.5)]
    assert history[0].timestamp <= history[1].timestamp
    run = client.get_run(rid)
    assert run.data.metrics[S.HUMAN_SCORE] == 2.5
    assert run.data.tags[S.RATING_NOTE] == "sharp fox"
    latest = {(m.key, m.step, m.timestamp, m.value) for m in [history[1]]}
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as con:
        row = con.execute(
            "SELECT key, step, timestamp, value, is_nan FROM latest_metrics "
            "WHERE run_uuid = ? AND key = ?",
            (rid, S.HUMAN_SCORE),
        ).fetchone()
    assert {row[:4]} == latest and row[4] == 0
    got = get_rating(rid, tracker=tracker)
    assert (got.score, got.note, got.ratings) == (2.5, "sharp fox", 2)

    # MLflow's latest-value rule (step, then timestamp, then value): a value MLflow logged at a
    # higher step stays the latest when the fast path appends at the next count
    client.log_batch(rid, metrics=[Metric(S.HUMAN_SCORE, 1.0, 1, 9)])
    third = rate(rid, 5, note="changed my mind", tracker=tracker)
    assert third.ratings == 4
    history = client.get_metric_history(rid, S.HUMAN_SCORE)
    assert sorted((m.step, m.value) for m in history) == [(0, 4.0), (1, 2.5), (3, 5.0), (9, 1.0)]
    run = client.get_run(rid)
    assert run.data.metrics[S.HUMAN_SCORE] == 1.0  # step 9 beats step 3, as MLflow ranks them
    assert run.data.tags[S.RATING_NOTE] == "changed my mind"

    # a tag MLflow wrote is overwritten in place, not duplicated
    client.log_batch(rid, tags=[RunTag(S.RATING_NOTE, "from mlflow")])
    rate(rid, 3, note="from veolab", tracker=tracker)
    assert client.get_run(rid).data.tags[S.RATING_NOTE] == "from veolab"


def test_rating_a_deleted_run_says_what_mlflow_says(sweep, tmp_path):
    from veolab.tracking.rating import rate

    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 3)]
    MlflowClient(tracking_uri=uri).delete_run(rid)
    with pytest.raises(TrackingError) as fast:
        rate(rid, 3, tracker=Tracker(uri))
    slow = Tracker(uri)
    slow._fast_checked = True  # MLflow's own path, for the comparison
    with pytest.raises(TrackingError) as mlflow_said:
        rate(rid, 3, tracker=slow)
    assert str(fast.value) == str(mlflow_said.value)
    assert str(fast.value) == (
        f"MLflow log failed on {uri}: The run {rid} must be in the 'active' state. "
        "Current state is deleted."
    )


WRAPPER = """\
import runpy, sys
sys.argv = ["veolab", *sys.argv[1:]]
try:
    runpy.run_module("veolab", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
imported = sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow."))
print("EXIT", code, "MLFLOW", len(imported), file=sys.stderr)
"""


def _veolab(cwd: Path, uri: str, *args: str) -> tuple[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "120"}
    r = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return r.stdout, r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("runs", NAME, "--json"), '"total": 6'),
        (("compare", NAME, "--json"), '"human_score"'),
        (("plan", "exp.yaml", "--json"), '"status": "done"'),
        (("rate", "RUN", "4", "--note", "crisp"), "Rated RUN: 4/5 - crisp"),
    ],
    ids=["runs", "compare", "plan", "rate"],
)
def test_commands_do_not_import_mlflow_on_a_local_store(sweep, tmp_path, args, expect):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 2)]
    if args[0] == "compare":
        invoke("rate", rid, "3", "--tracking-uri", uri)  # a human_score column to compare
    args = tuple(rid if a == "RUN" else a for a in args)
    out, last = _veolab(sweep.root, uri, *args)
    assert last == "EXIT 0 MLFLOW 0", out
    assert expect.replace("RUN", rid) in out
    if args[0] == "plan":
        assert [r["status"] for r in json.loads(out)["runs"]] == ["done"] * 6


def _mlflow_only(uri: str) -> Tracker:
    """A Tracker that reads through MlflowClient, as before the fast path."""
    tracker = Tracker(uri)
    tracker._fast_checked = True
    return tracker


@pytest.mark.slow
def test_listing_and_comparison_equal_mlflow_after_a_rerun_and_a_deletion(sweep, tmp_path):
    from veolab.compare.runs import load_runs
    from veolab.tracking.listing import list_runs

    uri, client, gone, _ = _store_with_deletions(sweep, tmp_path)
    rid = sweep.runs[(BRIGHT, 2)]
    r = invoke("rerun", rid, "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    rerun_parent = json.loads(r.output[r.output.index("{") :])["parent_run_id"]
    fast, slow = Tracker(uri), _mlflow_only(uri)

    flt = f"{GEN} AND tags.`{S.PARENT_RUN_ID}` = '{rerun_parent}'"
    reruns = fast.search(sweep.experiment_id, flt)
    assert _fast(reruns) == [_run(x) for x in slow.search(sweep.experiment_id, flt)]
    assert [x.data.tags[S.RERUN_OF] for x in reruns] == [rid]

    for target in (NAME, sweep.parent_id[:8], rerun_parent, None):
        a = list_runs(target, tracker=fast).to_dict()
        b = list_runs(target, tracker=slow).to_dict()
        assert a == b, target
    listing = list_runs(NAME, tracker=fast)
    assert listing.total == 5 and listing.rerun_parents == [rerun_parent]

    a, b = load_runs(NAME, tracker=fast), load_runs(NAME, tracker=slow)
    assert a.frame.sort_index(axis=1).equals(b.frame.sort_index(axis=1))
    assert a.reruns.sort_index(axis=1).equals(b.reruns.sort_index(axis=1))
    assert a.order == b.order and a.order["params.var.lighting"] == [
        "bright sunny morning light",
        "dark moonlit night",
    ]
    assert len(a.frame) == 5 and a.frame.loc[a.frame["run_id"] == rid, "reruns"].item() == 1
    assert fast._client is None and gone not in set(a.frame["run_id"])
