"""The ledger's schema is Alembic's: a fresh ledger and one made before migrations existed both
end at head and match the tables in the code, on SQLite and on PostgreSQL; N workers opening an
empty database at once migrate it once; a newer schema, a missing driver and an unreachable
server are each one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import invoke
from postgres import free_port

from veolab.errors import ConfigError
from veolab.review import votes as V
from veolab.review.votes import VoteStore
from veolab.runner import ledger_db as D
from veolab.runner.ledger import Claim, Ledger

# The ledger as the code before migrations (issues 7 and 12) made it: the DDL SQLAlchemy's
# create_all wrote for its tables on SQLite, copied from such a ledger.db (.schema)
OLD_LEDGER = """
CREATE TABLE claims (
    "key" VARCHAR(400) NOT NULL, experiment VARCHAR(400) NOT NULL, state VARCHAR(16) NOT NULL,
    job_id VARCHAR(200), error TEXT, owner VARCHAR(300), lease_until FLOAT, run_id VARCHAR(64),
    created FLOAT NOT NULL, updated FLOAT NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE payments (
    id INTEGER NOT NULL, "key" VARCHAR(400) NOT NULL, experiment VARCHAR(400) NOT NULL,
    status VARCHAR(16) NOT NULL, job_id VARCHAR(200), estimate FLOAT NOT NULL, billed FLOAT,
    owner VARCHAR(300), created FLOAT NOT NULL, updated FLOAT NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_payments_key ON payments ("key");
CREATE INDEX ix_payments_experiment ON payments (experiment);
CREATE TABLE budgets (
    experiment VARCHAR(400) NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (experiment));
"""
OLD_REVIEW = """
CREATE TABLE review_pairs (
    id VARCHAR(32) NOT NULL, experiment VARCHAR(400) NOT NULL, reviewer VARCHAR(100) NOT NULL,
    "by" VARCHAR(400) NOT NULL, left_run_id VARCHAR(64) NOT NULL,
    right_run_id VARCHAR(64) NOT NULL, left_group VARCHAR(400) NOT NULL,
    right_group VARCHAR(400) NOT NULL, served FLOAT NOT NULL, skipped FLOAT, PRIMARY KEY (id));
CREATE INDEX ix_review_pairs_experiment ON review_pairs (experiment);
CREATE TABLE review_votes (
    id INTEGER NOT NULL, experiment VARCHAR(400) NOT NULL, reviewer VARCHAR(100) NOT NULL,
    time FLOAT NOT NULL, pair_id VARCHAR(32) NOT NULL, "by" VARCHAR(400) NOT NULL,
    left_run_id VARCHAR(64) NOT NULL, right_run_id VARCHAR(64) NOT NULL,
    left_group VARCHAR(400) NOT NULL, right_group VARCHAR(400) NOT NULL,
    choice VARCHAR(16) NOT NULL, note TEXT, PRIMARY KEY (id), UNIQUE (pair_id));
CREATE INDEX ix_review_votes_experiment ON review_votes (experiment);
"""
OLD_ROWS = """
INSERT INTO claims VALUES ('segmind/veo-3.1/aaa', 'old-exp', 'submitted', 'job-1', NULL, NULL,
    NULL, NULL, 1.0, 2.0);
INSERT INTO claims VALUES ('segmind/veo-3.1/bbb', 'old-exp', 'logged', 'job-2', NULL, NULL,
    NULL, 'run-2', 1.0, 2.0);
INSERT INTO payments VALUES (1, 'segmind/veo-3.1/aaa', 'old-exp', 'billed', 'job-1', 1.6, NULL,
    'h:1:1', 1.0, 2.0);
INSERT INTO payments VALUES (2, 'segmind/veo-3.1/bbb', 'old-exp', 'billed', 'job-2', 1.6, 1.2,
    'h:1:1', 1.0, 2.0);
INSERT INTO budgets VALUES ('old-exp', 2);
"""


def _diffs(url: str) -> list:
    """What separates the database's schema from the tables in the code (empty: nothing)."""
    every = sa.MetaData()
    for table in [*D.metadata.tables.values(), *V.metadata.tables.values()]:
        table.to_metadata(every)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": D.VERSION_TABLE})
            return compare_metadata(ctx, every)
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return D.revision(conn)
    finally:
        engine.dispose()


def test_head_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(D.MIGRATIONS))
    assert script.get_current_head() == D.HEAD
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_fresh_ledger_is_at_head_and_matches_the_code(db: str, request, tmp_path: Path) -> None:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if db == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    ledger = Ledger(url)
    try:
        assert isinstance(ledger.claim("sim/veo-3.1/abc", "fresh"), Claim)
    finally:
        ledger.close()
    VoteStore(url).close()
    assert _revision(url) == D.HEAD
    assert _diffs(url) == []


def test_old_sqlite_ledger_is_brought_up_in_place(clean_env: Path) -> None:
    db = clean_env / "veolab-home" / "ledger.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.executescript(OLD_LEDGER + OLD_REVIEW + OLD_ROWS)
    con.execute(
        "INSERT INTO review_pairs VALUES ('p1', 'old-exp', 'ann', 'variant', 'r1', 'r2', 'a', "
        "'b', 1.0, NULL)"
    )
    con.execute(
        "INSERT INTO review_votes VALUES (1, 'old-exp', 'ann', 2.0, 'p1', 'variant', 'r1', 'r2', "
        "'a', 'b', 'left', 'sharper')"
    )
    con.commit()
    con.close()
    assert _revision(f"sqlite:///{db}") is None

    ledger = Ledger()  # $VEOLAB_HOME/ledger.db: migrated on open
    try:
        entries = ledger.entries()
        assert entries["segmind/veo-3.1/aaa"].state == "submitted"
        assert entries["segmind/veo-3.1/aaa"].job_id == "job-1"
        assert entries["segmind/veo-3.1/bbb"].run_id == "run-2"
        assert ledger.spent("old-exp") == 2.8  # the estimate where nothing was billed, else billed
        # the new column works on the old rows: a claim taken over, released as dealt with
        got = ledger.claim("segmind/veo-3.1/aaa", "old-exp")
        assert isinstance(got, Claim) and got.job_id == "job-1" and got.attempt is None
        ledger.release("segmind/veo-3.1/aaa", attempt="sweep-1")
        again = ledger.claim("segmind/veo-3.1/aaa", "old-exp")
        assert isinstance(again, Claim) and again.attempt == "sweep-1"
    finally:
        ledger.close()
    store = VoteStore()
    try:
        assert [(v.reviewer, v.choice, v.note) for v in store.votes("old-exp")] == [
            ("ann", "left", "sharper")
        ]
    finally:
        store.close()
    assert _revision(f"sqlite:///{db}") == D.HEAD
    assert _diffs(f"sqlite:///{db}") == []


def test_ledger_made_before_the_review_tables_gets_them(clean_env: Path) -> None:
    db = clean_env / "veolab-home" / "ledger.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.executescript(OLD_LEDGER + OLD_ROWS)
    con.close()
    Ledger().close()
    assert _diffs(f"sqlite:///{db}") == []
    assert VoteStore().votes("old-exp") == []


def test_a_newer_schema_is_refused_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).close()
    con = sqlite3.connect(tmp_path / "ledger.db")
    con.execute(f"UPDATE {D.VERSION_TABLE} SET version_num = '0999'")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match=r"schema revision 0999, newer than this veolab knows"):
        Ledger(url)


def test_many_workers_opening_an_empty_database_migrate_it_once(pg_url: str) -> None:
    code = "import sys; from veolab.runner.ledger import Ledger; Ledger(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url]) for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert _revision(pg_url) == D.HEAD
    assert _diffs(pg_url) == []


def test_postgresql_urls_use_psycopg_3(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    ledger = Ledger(plain)
    try:
        assert ledger.url == pg_url
        assert ledger.engine.dialect.driver == "psycopg"
    finally:
        ledger.close()


PLAN_FILE = (
    "name: team\ntemplate: q.j2\nvars: {subject: a fox}\nparams: {resolution: 720p, duration: 4}\n"
)


def _plan_project(tmp: Path) -> Path:
    (tmp / "prompts").mkdir()
    (tmp / "prompts" / "q.j2").write_text("{{ subject }}")
    path = tmp / "team.yaml"
    path.write_text(PLAN_FILE)
    return path


def test_without_psycopg_a_postgresql_ledger_names_the_extra(tmp_path: Path) -> None:
    path = _plan_project(tmp_path)
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.argv = ['veolab', 'plan', sys.argv[1]]; "
        "from veolab.cli import main; main()"
    )
    env = {**os.environ, "VEOLAB_LEDGER_URI": "postgresql://team:pw@db.internal/veolab"}
    r = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "Error: the veolab ledger postgresql+psycopg://team:***@db.internal/veolab needs the "
        "database driver 'psycopg', which is not installed: pip install 'veolab[team]' (or set "
        "VEOLAB_LEDGER_URI to another database)"
    ]


def test_an_unreachable_ledger_server_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plan_project(tmp_path)
    port = free_port()  # nothing listens there
    monkeypatch.setenv("VEOLAB_LEDGER_URI", f"postgresql://team:s3cret@127.0.0.1:{port}/veolab")
    r = invoke("plan", str(path))
    assert r.exit_code == 2
    assert "s3cret" not in r.output
    assert "Traceback" not in r.output
    assert r.output.startswith(
        f"Error: cannot open the veolab ledger postgresql+psycopg://team:***@127.0.0.1:{port}/"
        "veolab: OperationalError: connection failed"
    ), r.output
    assert r.output.rstrip().endswith("(check VEOLAB_HOME or VEOLAB_LEDGER_URI)")


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_lease_setting_is_one_line(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(D.LEASE_ENV, value)
    with pytest.raises(ConfigError, match=r"VEOLAB_LEASE_SECONDS=.* is not a number of seconds"):
        Ledger()


def test_review_votes_live_in_the_team_ledger(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from veolab.errors import VoteError
    from veolab.review.probe import has_votes
    from veolab.review.votes import ServedPair

    monkeypatch.setenv("VEOLAB_LEDGER_URI", pg_url.replace("postgresql+psycopg", "postgresql"))
    ann, ben = VoteStore(), VoteStore()  # two reviewers' machines
    try:
        pair = ServedPair.new("team", "ann", "variant", ("run-a", "warm"), ("run-b", "cool"))
        ann.serve(pair)
        ann.vote(pair.id, "ann", "left", note="warmer skin")
        with pytest.raises(VoteError, match="already has a vote") as refused:
            ben.vote(pair.id, "ann", "right")  # the same pair from another connection
        assert refused.value.status == 409
        assert [(v.reviewer, v.choice) for v in ben.votes("team")] == [("ann", "left")]
        assert has_votes("team") and not has_votes("other")
    finally:
        ann.close()
        ben.close()
