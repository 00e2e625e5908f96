"""A unique prefix of a run id names the run, as git takes a short commit id: in rate, rerun,
compare, report and runs. Too short (under 4 characters), ambiguous, unknown: exit 2, one line.

The ambiguous cases need runs whose ids share a prefix; MLflow's SQL store draws each id from
``uuid.uuid4()``, so those tests hand it chosen ids (the store and everything else is real).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from helpers import BRIGHT, DARK, NAME, invoke

from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker


@pytest.fixture
def chosen_ids(monkeypatch):
    """chosen_ids(["61a0a5f9...", ...]): the next runs MLflow creates get these ids (32 hex)."""
    import mlflow.store.tracking.sqlalchemy_store as store

    queue: list[str] = []

    class ChosenUUID:
        @staticmethod
        def uuid4():
            return uuid.UUID(queue.pop(0)) if queue else uuid.uuid4()

    monkeypatch.setattr(store, "uuid", ChosenUUID)
    return queue.extend


def _generation(tracker: Tracker, exp: str, variant: str, seed: int) -> str:
    tags = {S.KIND: S.KIND_GENERATION, S.VARIANT: variant, S.SEED: str(seed)}
    run_id = tracker.create_run(tracker.experiment_id(exp), f"{variant} seed={seed}", tags)
    tracker.terminate(run_id, "FINISHED")
    return run_id


A = "61a0a5f9" + "0" * 24
B = "61a0a5f9" + "1" * 24
C = "61a0b000" + "2" * 24


@pytest.fixture(scope="module")
def _lookalikes_db(tmp_path_factory) -> Path:
    """The store of ``lookalikes``, made once (a new MLflow store takes seconds to create)."""
    import mlflow.store.tracking.sqlalchemy_store as store

    db = tmp_path_factory.mktemp("ids") / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}")
    queue = [A, B, C]

    class ChosenUUID:
        @staticmethod
        def uuid4():
            return uuid.UUID(queue.pop(0)) if queue else uuid.uuid4()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "uuid", ChosenUUID)
        assert _generation(tracker, "fox", "v1", 1) == A
        assert _generation(tracker, "owl", "v2", 7) == B
        assert _generation(tracker, "fox", "v1", 2) == C
    return db


@pytest.fixture
def lookalikes(tmp_path, _lookalikes_db):
    """Three runs: A and B share 8 characters (A in experiment fox, B in owl), C 4 with them;
    each test gets its own copy of the store."""
    db = tmp_path / "ids" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(_lookalikes_db, db)
    return Tracker(f"sqlite:///{db}")


@pytest.mark.parametrize(
    ("ref", "found"),
    [
        (A, A),  # whole
        ("61a0a5f90", A),
        ("61a0a5f91", B),
        ("61a0b", C),
        ("61A0B", C),  # ids are lower case; a prefix in capitals still names the run
        (" 61a0b ", C),  # pasted with spaces
        ("ffff", None),
        ("61a0a5f9" + "2" * 24, None),  # whole, and no such run
        ("xyz0", None),  # not hex: no id starts with it
    ],
)
def test_a_prefix_names_one_run(lookalikes, ref, found):
    run = lookalikes.find_run(ref)
    assert (run.info.run_id if run else None) == found


def test_an_ambiguous_prefix_lists_the_runs_it_could_be(lookalikes):
    with pytest.raises(ConfigError) as err:
        lookalikes.find_run("61a0a5f9")
    assert str(err.value) == (
        f"run id '61a0a5f9' is ambiguous: 2 runs start with it: {A} (fox, variant v1, seed 1), "
        f"{B} (owl, variant v2, seed 7); give more characters of the one you mean"
    )
    with pytest.raises(ConfigError, match=r"^run id '61a0' is ambiguous: 3 runs start with it"):
        lookalikes.find_run("61a0")


@pytest.mark.parametrize("ref", ["", "6", "61a"])
def test_a_prefix_under_4_characters_is_refused(lookalikes, ref):
    with pytest.raises(ConfigError) as err:
        lookalikes.find_run(ref)
    assert str(err.value) == (
        f"run id {ref!r} is too short: give at least 4 characters of it (veolab runs lists the ids)"
    )


def test_more_than_ten_candidates_are_cut_at_ten(tmp_path, chosen_ids):
    tracker = Tracker(f"sqlite:///{tmp_path / 'many' / 'mlflow.db'}")
    ids = [f"beef{i:028x}" for i in range(12)]
    chosen_ids(ids)
    for seed in range(12):
        _generation(tracker, "fox", "v1", seed)
    with pytest.raises(ConfigError) as err:
        tracker.find_run("beef")
    msg = str(err.value)
    assert msg.startswith("run id 'beef' is ambiguous: more than 10 runs start with it: ")
    assert msg.endswith(", ...; give more characters of the one you mean")
    assert [i for i in ids if i in msg] == ids[:10]  # the oldest ten


@pytest.mark.parametrize(
    "command",
    [["rate", "61a0a5f9", "4"], ["rerun", "61a0a5f9", "--yes"], ["runs", "61a0a5f9"]],
    ids=["rate", "rerun", "runs"],
)
def test_every_command_refuses_an_ambiguous_prefix(lookalikes, command):
    r = invoke(*command, "--tracking-uri", lookalikes.uri)
    assert r.exit_code == 2, r.output
    assert r.output == (
        f"Error: run id '61a0a5f9' is ambiguous: 2 runs start with it: {A} (fox, variant v1, "
        f"seed 1), {B} (owl, variant v2, seed 7); give more characters of the one you mean\n"
    )
    assert Tracker(lookalikes.uri).find_run(A).data.metrics == {}  # nothing was rated


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["rate", "61a", "4"], "Error: run id '61a' is too short: give at least 4 characters"),
        (["rerun", "61a"], "Error: run id '61a' is too short: give at least 4 characters"),
        (["rate", "ffff", "4"], "Error: no run 'ffff' in sqlite:///"),
        (["rerun", "ffff"], "Error: no run 'ffff' in sqlite:///"),
        (["runs", "ffff"], "Error: no experiment, sweep or rerun named 'ffff' (experiments in"),
    ],
)
def test_short_and_unknown_prefixes_exit_2(lookalikes, command, message):
    r = invoke(*command, "--tracking-uri", lookalikes.uri)
    assert (r.exit_code, r.output.count("\n")) == (2, 1), r.output
    assert r.output.startswith(message)


def test_rate_compare_and_runs_take_a_prefix_of_the_sweep(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(DARK, 3)]
    r = invoke("rate", rid[:8], "3", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (0, f"Rated {rid}: 3/5\n")
    assert Tracker(uri).get_run(rid).data.metrics[S.HUMAN_SCORE] == 3.0

    r = invoke("compare", sweep.parent_id[:6], "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["experiment"], d["sweeps"]) == (NAME, [sweep.parent_id])

    r = invoke("runs", sweep.parent_id[:6], "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["parent_run_id"], d["total"]) == (sweep.parent_id, 6)
    rated = [x for x in d["runs"] if x["human_score"] is not None]
    assert [(x["run_id"], x["human_score"]) for x in rated] == [(rid, 3.0)]


def test_report_takes_a_prefix_of_the_sweep(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    out = tmp_path / "r.html"
    r = invoke("report", sweep.parent_id[:5], "-o", str(out), "--no-log", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Wrote {out} (2 groups, 6 runs, 6 videos)")
    assert sweep.runs[(BRIGHT, 1)] in out.read_text()
