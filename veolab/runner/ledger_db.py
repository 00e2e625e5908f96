"""Where the ledger lives, its tables, and the schema kept at head by migrations.

    url = ledger_url()              # VEOLAB_LEDGER_URI, else sqlite:///$VEOLAB_HOME/ledger.db
    engine = open_engine(url)       # the schema is brought to head on open (Alembic)

Any database SQLAlchemy speaks holds the ledger. SQLite in ``$VEOLAB_HOME`` is the default; a
team points every worker at one PostgreSQL database (``VEOLAB_LEDGER_URI=postgresql://...``,
read as ``postgresql+psycopg://``: psycopg 3 comes with ``pip install 'veolab[team]'``).

The schema is Alembic's: the migrations ship in ``veolab/runner/migrations/versions`` and every
open brings the database to head, under a lock (PostgreSQL: an advisory lock; SQLite: the write
lock of ``BEGIN IMMEDIATE``), so N workers starting at once migrate once. A ledger made before
the migrations existed (no version table) is brought up in place: the first revision creates
only the tables it lacks. The version lives in ``veolab_ledger_version``, not Alembic's default
``alembic_version``, so a ledger that shares a database with MLflow's own tables never mixes
the two histories. A database at a revision this veolab does not know (a colleague's newer
veolab migrated it) is refused with a line that says to upgrade veolab.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veolab.errors import ConfigError

LEDGER_ENV = "VEOLAB_LEDGER_URI"
LEASE_ENV = "VEOLAB_LEASE_SECONDS"
LEASE_SECONDS = 90.0  # a claim's lease, renewed every sixth of it while its owner works
VERSION_TABLE = "veolab_ledger_version"
HEAD = "0002"  # the newest revision in migrations/versions (a test checks they agree)
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x7665_6F6C_6162  # "veolab": the advisory lock of a PostgreSQL migration

metadata = sa.MetaData()
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("experiment", sa.String(400), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("job_id", sa.String(200)),
    sa.Column("error", sa.Text),
    sa.Column("owner", sa.String(300)),
    sa.Column("lease_until", sa.Float),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    # the sweep (its MLflow run id) that last dealt with the key: a colleague in the same
    # sweep does not deal with it again (revision 0002)
    sa.Column("attempt", sa.String(64)),
)
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, index=True),
    sa.Column("experiment", sa.String(400), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("job_id", sa.String(200)),
    sa.Column("estimate", sa.Float, nullable=False),
    sa.Column("billed", sa.Float),
    sa.Column("owner", sa.String(300)),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
budgets = sa.Table(
    "budgets",
    metadata,
    sa.Column("experiment", sa.String(400), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False, default=0),
)
# one row per plan run by a team (runner/team.py): the MLflow sweep run its workers share
sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),  # experiment and plan fingerprint
    sa.Column("experiment", sa.String(400), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # opening | open | closed
    sa.Column("run_id", sa.String(64)),
    sa.Column("owner", sa.String(300)),  # who is opening it
    sa.Column("lease_until", sa.Float),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
# one row per worker of a sweep run: its lease and what it did (the sweep's metrics)
sweep_workers = sa.Table(
    "sweep_workers",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(300), primary_key=True),
    sa.Column("sweep_key", sa.String(100), nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("joined", sa.Float, nullable=False),
    sa.Column("left", sa.Float),
    sa.Column("generated", sa.Integer, nullable=False, default=0),
    sa.Column("relogged", sa.Integer, nullable=False, default=0),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("check_failed", sa.Integer, nullable=False, default=0),
    sa.Column("skipped", sa.Integer, nullable=False, default=0),
    sa.Column("spend", sa.Float, nullable=False, default=0.0),
)


def lease_seconds() -> float:
    """A claim's lease: ``VEOLAB_LEASE_SECONDS`` or 90 s (a dead owner's claims are taken
    over when it ends; tests use a few seconds)."""
    raw = os.environ.get(LEASE_ENV)
    if not raw:
        return LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigError(
            f"{LEASE_ENV}={raw!r} is not a number of seconds above 0: fix or unset it"
        )
    return value


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (SQLAlchemy's own default is the
    older psycopg2); an explicit driver (``postgresql+psycopg2://``) is kept.

    >>> normalise_url("postgresql://team@db.internal/veolab")
    'postgresql+psycopg://team@db.internal/veolab'
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def ledger_url(url: str | None = None) -> str:
    """``url``, else $VEOLAB_LEDGER_URI, else SQLite at ``$VEOLAB_HOME/ledger.db``."""
    from veolab._fs import veolab_home

    url = url or os.environ.get(LEDGER_ENV)
    if url:
        return normalise_url(url)
    home = veolab_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create VEOLAB_HOME {home}: {exc.strerror or exc} (set VEOLAB_HOME to a "
            "writable folder)"
        ) from exc
    return f"sqlite:///{home / 'ledger.db'}"


def existing_ledger() -> bool:
    """Whether a ledger exists to read (a server URL, or the SQLite file in VEOLAB_HOME)."""
    from veolab._fs import veolab_home

    return bool(os.environ.get(LEDGER_ENV)) or (veolab_home() / "ledger.db").is_file()


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("://", 1)[0] + "://..."


def engine(url: str) -> sa.Engine:
    """An engine for ``url`` (no connection yet). A missing driver or an unknown database kind
    is a :class:`ConfigError` naming the fix."""
    try:
        if not url.startswith("sqlite"):
            args: dict[str, Any] = {}
            if url.startswith("postgresql+psycopg"):
                args["connect_timeout"] = 10  # an unreachable server is an error, not a hang
            return sa.create_engine(url, pool_pre_ping=True, connect_args=args)
        eng = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 60}, poolclass=sa.NullPool
        )
    except ModuleNotFoundError as exc:
        hint = (
            "pip install 'veolab[team]'"
            if url.startswith("postgresql")
            else f"install the Python driver {exc.name}"
        )
        raise ConfigError(
            f"the veolab ledger {safe_url(url)} needs the database driver {exc.name!r}, which "
            f"is not installed: {hint} (or set {LEDGER_ENV} to another database)"
        ) from exc
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(
            f"{LEDGER_ENV}={safe_url(url)} is not a database URL SQLAlchemy knows ({exc}): use "
            "e.g. postgresql://USER:PASSWORD@HOST/DATABASE"
        ) from exc

    # SQLAlchemy's documented recipe: let SQLite's own locking decide, and make every
    # transaction take the write lock at BEGIN (IMMEDIATE), so transactions serialize instead
    # of failing on a lock upgrade
    @sa.event.listens_for(eng, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=60000")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=FULL")

    @sa.event.listens_for(eng, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return eng


def open_engine(url: str, what: str = "the veolab ledger") -> sa.Engine:
    """:func:`engine` with the schema at head; a database that cannot be reached or migrated
    is a one-line :class:`ConfigError`."""
    eng = engine(url)
    try:
        ensure_schema(eng)
    except sa.exc.SQLAlchemyError as exc:
        eng.dispose()
        orig = getattr(exc, "orig", None)
        first = str(orig if orig is not None else exc).splitlines()
        raise ConfigError(
            f"cannot open {what} {safe_url(url)}: {exc.__class__.__name__}: "
            f"{(first or [''])[0].strip()} (check VEOLAB_HOME or {LEDGER_ENV})"
        ) from exc
    except ConfigError:
        eng.dispose()
        raise
    return eng


def revision(conn: sa.Connection) -> str | None:
    """The database's schema revision (None: never migrated)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def ensure_schema(eng: sa.Engine) -> None:
    """Bring the database to :data:`HEAD`: one query when it is there already; otherwise the
    migrations run in one transaction under a lock, so concurrent opens migrate once."""
    with eng.connect() as conn:
        if revision(conn) == HEAD:
            return
    with eng.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        current = revision(conn)  # again, under the lock: another process may have migrated
        if current == HEAD:
            return
        _upgrade(conn, current, eng.url.render_as_string(hide_password=True))


def _script() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg, ScriptDirectory.from_config(cfg)


def _upgrade(conn: sa.Connection, current: str | None, where: str) -> None:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.util import CommandError

    cfg, script = _script()
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError as exc:
            raise ConfigError(
                f"the veolab ledger {where} has schema revision {current}, newer than this "
                f"veolab knows ({HEAD}): upgrade veolab (pip install -U veolab) on this machine"
            ) from exc

    def upgrade(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(HEAD, rev)

    with EnvironmentContext(cfg, script, fn=upgrade, destination_rev=HEAD) as env:
        env.configure(connection=conn, version_table=VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()


__all__ = [
    "HEAD",
    "LEDGER_ENV",
    "LEASE_ENV",
    "ensure_schema",
    "existing_ledger",
    "lease_seconds",
    "ledger_url",
    "normalise_url",
    "open_engine",
    "safe_url",
]
