"""The local MLflow store survives races and kills: two first runs at once both succeed; a store a
kill left half-created is moved aside and made anew when it holds no runs, and is a one-line error
(exit 3) when it holds runs. Real processes, real SIGKILLs, no mocks."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker

EXP = """\
name: {name}
template: q.j2
vars:
  subject: a red fox
  lighting: [bright sunny day, dark night]
params: {{resolution: 720p, duration: 4, generate_audio: false}}
seeds: [1]
concurrency: 2
"""

# blocks the store creation at the Nth DDL statement and says so, so that the parent's SIGKILL
# lands in the middle of MLflow's table creation and schema migrations, deterministically
KILLABLE_RUN = """\
import sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine

STOP_AT = int(sys.argv[1])
seen = 0

@event.listens_for(Engine, "before_cursor_execute")
def _ddl(conn, cursor, statement, parameters, context, executemany):
    global seen
    if statement.lstrip().upper().startswith(("CREATE ", "ALTER ", "DROP ")):
        seen += 1
        if seen == STOP_AT:
            print("reached", seen, flush=True)
            time.sleep(3600)

from veolab.cli import main
sys.argv = ["veolab", "run", sys.argv[2], "--yes"]
main()
"""


def project(tmp: Path, name: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} on a beach, {{ lighting }}")
    p = tmp / f"{name}.yaml"
    p.write_text(EXP.format(name=name))
    return p


def store_file() -> Path:
    return Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))


def schema_head() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def revision(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
    finally:
        con.close()


def sweeps(db: Path, name: str) -> list[str]:
    """Statuses of the sweep runs of experiment ``name``, read from the file itself."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT r.status FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
            "JOIN tags t ON t.run_uuid = r.run_uuid WHERE e.name = ? AND t.key = ? AND t.value = ?",
            (name, S.KIND, S.KIND_SWEEP),
        ).fetchall()
        return sorted(r[0] for r in rows)
    finally:
        con.close()


@pytest.mark.slow
def test_two_first_runs_at_once_both_succeed(tmp_path: Path) -> None:
    path = project(tmp_path, "twins")
    db = store_file()
    assert not db.exists()
    cmd = [sys.executable, "-m", "veolab", "run", str(path), "--yes"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(600), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, f"exit {code}\n{out}\n{err}"
        assert "half-created" not in err
    assert revision(db) == [schema_head()]
    # one sweep run the two share (issue 15), or one each when the second joined after the first
    # had closed its own; none for one that looked after the other had done everything
    worked = sum("nothing to do" not in out for _, out, _ in results)
    assert worked >= 1
    found = sweeps(db, "twins")
    assert 1 <= len(found) <= worked and set(found) == {"FINISHED"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "stop_at",
    [
        5,  # among the first tables: no schema revision stamped yet
        120,  # mid-migrations: MLflow alone fails with "table ... already exists"
        200,  # inside a table rebuild: SQLite leaves a journal beside the file
    ],
)
def test_a_kill_during_first_creation_is_repaired(tmp_path: Path, stop_at: int) -> None:
    path = project(tmp_path, "killed")
    script = tmp_path / "killable_run.py"
    script.write_text(KILLABLE_RUN)
    db = store_file()
    child = subprocess.Popen(
        [sys.executable, str(script), str(stop_at), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()  # blocks until the creation reached the Nth statement
    child.send_signal(signal.SIGKILL)
    child.wait(60)
    assert line.startswith("reached"), f"the store creation ended before statement {stop_at}"
    assert db.is_file() and revision_or_none(db) != [schema_head()]

    r = CliRunner().invoke(cli, ["run", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    aside = sorted(p.name for p in db.parent.iterdir() if p.name.startswith("mlflow.db.broken-"))
    # a journal SQLite left beside the file moves with it (left behind, it would be replayed)
    assert re.fullmatch(r"mlflow\.db\.broken-\d{8}-\d{6}", aside[0])
    assert aside[1:] in ([], [aside[0] + "-journal"])
    moved = db.parent / aside[0]
    assert r.stderr.splitlines()[0] == (
        f"veolab: the MLflow store {db} was left half-created (schema "
        f"{','.join(revision_or_none(moved)) or 'none'}, not {schema_head()}; a killed first "
        f"run?) and held no runs: moved it to {moved.name}, creating a new one"
    )
    assert revision(db) == [schema_head()]
    assert sweeps(db, "killed") == ["FINISHED"]

    r = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    assert [x["status"] for x in json.loads(r.stdout)["runs"]] == ["done", "done"]


def revision_or_none(db: Path) -> list[str]:
    try:
        return revision(db)
    except sqlite3.OperationalError:  # no alembic_version table yet
        return []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "found"),
    [
        # an upgrade killed part-way: the tables of later revisions exist, the stamp is behind
        ("UPDATE alembic_version SET version_num = '534353b11cbc'", "534353b11cbc"),
        ("DELETE FROM alembic_version", "none"),
    ],
)
def test_a_half_created_store_with_runs_is_a_one_line_error(
    tmp_path: Path, damage: str, found: str
) -> None:
    db = store_file()
    tracker = Tracker()
    exp_id = tracker.experiment_id("kept")
    assert exp_id is not None
    tracker.create_run(exp_id, "precious", {})
    con = sqlite3.connect(db)
    con.execute(damage)
    con.commit()
    con.close()
    before = db.read_bytes()
    path = project(tmp_path, "kept")

    expected = (
        f"Error: the MLflow store {db} is half-created or half-upgraded (schema {found}, this "
        f"MLflow needs {schema_head()}) and holds 1 run, so veolab leaves it alone: back it up, "
        f"then run 'mlflow db upgrade sqlite:///{db}', or move it aside to start a new store\n"
    )
    for args in (["run", str(path), "--yes"], ["plan", str(path)]):
        r = CliRunner().invoke(cli, args)
        assert (r.exit_code, r.stderr) == (3, expected)
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]
