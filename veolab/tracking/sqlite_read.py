"""Reading a local SQLite MLflow store without importing MLflow (the fast path of ``Tracker``).

    store = SqliteStore.open("sqlite:///mlruns/mlflow.db")   # None: use MlflowClient
    runs = store.search(["1"], "tags.`veolab.kind` = 'generation'")
    runs[0].info.run_id, runs[0].data.tags["veolab.seed"], runs[0].data.metrics["motion"]

``import mlflow`` costs about 3 s of CPU, more than everything else ``veolab runs``, ``compare``,
``plan`` and ``rate`` do on a 200-run store; so for a ``sqlite:///`` store these read MLflow's own
tables (``experiments``, ``runs``, ``tags``, ``params``, ``latest_metrics``, ``metrics``) with the
standard library, through a read-only connection, and answer with light objects that carry the
attributes veolab uses on MLflow's entities (``run.info.run_id``, ``.status``, ``.start_time``,
``.end_time``, ``.experiment_id``, ``.artifact_uri``, ``.run_name``, ``.lifecycle_stage``;
``run.data.tags``, ``.params``, ``.metrics`` as dicts; an experiment's ``experiment_id``,
``name``, ``artifact_location``, ``lifecycle_stage``).

The contract, so that the answer is MlflowClient's answer:

- :meth:`SqliteStore.open` says None (the caller uses MlflowClient) unless the file holds a schema
  revision listed in :data:`TESTED_REVISIONS` with the columns read here, and MLflow workspaces
  are off (``MLFLOW_ENABLE_WORKSPACES``): a store made by another MLflow, half-created, or not an
  SQLite file at all, goes to MLflow, which upgrades, repairs or explains it.
- :meth:`SqliteStore.search` takes only the filters veolab writes (``tags.`k` = 'v'``,
  ``attributes.status = 'S'``, ``attributes.run_id = 'id'`` or ``LIKE '<prefix>%'``, joined by
  ``AND``) and ``attributes.start_time`` ordering; for anything else it says None. Deleted runs
  are left out, as ``search_runs`` leaves them out; ``get_run`` and the experiment lookups by
  name or id see deleted ones, as MLflow's do.
- :meth:`SqliteStore.append_metric` writes one metric step and tags in one transaction, as
  ``SqlAlchemyStore.log_batch`` does (a ``metrics`` row; ``latest_metrics`` replaced when the new
  value is later by step, then timestamp, then value; tags inserted or overwritten).

Any ``sqlite3.Error`` is :class:`FastPathError`: ``Tracker`` then asks MLflow, whose answer
(or error) is the one the user sees.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

# alembic revisions of MLflow's schema this module was checked against, table by table
# (MLflow 3.17's head): a newer MLflow's store falls back to MlflowClient until it is added here
TESTED_REVISIONS = frozenset({"dc11669786a5"})

COLUMNS = {
    "experiments": {"experiment_id", "name", "artifact_location", "lifecycle_stage"},
    "runs": {
        "run_uuid",
        "name",
        "experiment_id",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "lifecycle_stage",
        "artifact_uri",
    },
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "latest_metrics": {"key", "value", "timestamp", "step", "is_nan", "run_uuid"},
    "metrics": {"key", "value", "timestamp", "step", "is_nan", "run_uuid"},
}

BUSY_TIMEOUT = 30.0  # seconds a read waits for a writer (a sweep logging) to commit
RUN_NAME_TAG = "mlflow.runName"
_CHUNK = 500  # run ids per IN (...) list: well under SQLite's variable limit
_RUN_COLUMNS = (
    "run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, "
    "artifact_uri"
)

# one clause of a filter veolab writes; anything else is MlflowClient's to parse
_CLAUSE = re.compile(
    r"(?P<kind>tags|attributes)\.(?:`(?P<quoted>[^`]+)`|(?P<plain>[A-Za-z_][\w.]*))"
    r"\s*(?P<op>=|LIKE)\s*'(?P<value>[^'\\]*)'",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_PREFIX = re.compile(r"[0-9a-f]+%")
_ORDER = re.compile(r"(?:attributes|attribute|attr|run)\.start_time(?:\s+(ASC|DESC))?", re.I)


class FastPathError(Exception):
    """The SQLite store could not be read or written directly: ask MLflow instead."""


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    run_name: str | None
    experiment_id: str
    user_id: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str | None
    artifact_uri: str | None

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass(frozen=True)
class Query:
    """A parsed filter: tag equalities and run attributes (SQL fragments with their values)."""

    tags: tuple[tuple[str, str], ...]
    where: tuple[str, ...]
    values: tuple[object, ...]


def parse_filter(filter_string: str) -> Query | None:
    """The filter as SQL, or None when it is not one veolab writes (MLflow parses it then)."""
    tags: list[tuple[str, str]] = []
    where: list[str] = []
    values: list[object] = []
    text = filter_string.strip()
    for clause in _AND.split(text) if text else []:
        m = _CLAUSE.fullmatch(clause.strip())
        if m is None:
            return None
        key, op, value = m["quoted"] or m["plain"], m["op"].upper(), m["value"]
        if m["kind"].lower() == "tags":
            if op != "=":
                return None
            tags.append((key, value))
        elif key == "status" and op == "=":
            where.append("r.status = ?")
            values.append(value)
        elif key == "run_id" and op == "=":
            where.append("r.run_uuid = ?")
            values.append(value)
        elif key == "run_id" and _PREFIX.fullmatch(value):
            # ids are lower-case hex: a prefix compare is what LIKE '<hex>%' finds
            where.append("substr(r.run_uuid, 1, ?) = ?")
            values += [len(value) - 1, value[:-1]]
        else:
            return None
    return Query(tuple(tags), tuple(where), tuple(values))


def parse_order(order_by: Sequence[str] | None) -> str | None:
    """MLflow's ORDER BY for ``attributes.start_time [ASC|DESC]`` (or none), else None."""
    if not order_by:
        return "r.start_time DESC, r.run_uuid"  # search_runs' default order
    if len(order_by) != 1:
        return None
    m = _ORDER.fullmatch(order_by[0].strip())
    if m is None:
        return None
    way = (m[1] or "ASC").upper()
    # a requested order puts missing values last, then breaks ties by run id
    return f"(r.start_time IS NULL), r.start_time {way}, r.run_uuid"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _workspaces_on() -> bool:
    return os.environ.get("MLFLOW_ENABLE_WORKSPACES", "false").strip().lower() not in (
        "",
        "false",
        "0",
    )


class SqliteStore:
    """MLflow's tables in one SQLite file, read (and a rating written) with ``sqlite3``."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._ro_uri = db.resolve().as_uri() + "?mode=ro"

    @classmethod
    def open(cls, uri: str) -> SqliteStore | None:
        """The store at ``uri`` when it is a local SQLite file with a schema this module reads."""
        db = sqlite_path(uri)
        if db is None or not db.is_file() or _workspaces_on():
            return None
        store = cls(db)
        try:
            return store if store._schema_ok() else None
        except (sqlite3.Error, FastPathError):
            return None

    def _schema_ok(self) -> bool:
        with self._read() as con:
            tables = {
                name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "alembic_version" not in tables or not set(COLUMNS) <= tables:
                return False
            revs = {r for (r,) in con.execute("SELECT version_num FROM alembic_version")}
            if len(revs) != 1 or not revs <= TESTED_REVISIONS:
                return False
            for table, wanted in COLUMNS.items():
                have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
                if not wanted <= have:
                    return False
        return True

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self._ro_uri, uri=True, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise FastPathError(str(exc)) from exc
        try:
            yield con
        except sqlite3.Error as exc:
            raise FastPathError(str(exc)) from exc
        finally:
            con.close()

    # -- experiments ----------------------------------------------------------------------

    def experiment_by_name(self, name: str) -> Experiment | None:
        """Active or deleted, as ``MlflowClient.get_experiment_by_name``."""
        return self._one_experiment("name = ?", name)

    def experiment(self, experiment_id: str) -> Experiment | None:
        """Active or deleted, as ``MlflowClient.get_experiment``."""
        try:
            eid = int(experiment_id)
        except ValueError:
            return None
        return self._one_experiment("experiment_id = ?", eid)

    def _one_experiment(self, where: str, value: object) -> Experiment | None:
        with self._read() as con:
            row = con.execute(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage "
                f"FROM experiments WHERE {where}",
                (value,),
            ).fetchone()
        return None if row is None else Experiment(str(row[0]), row[1], row[2], row[3])

    def experiments(self, max_results: int | None = None) -> list[Experiment]:
        """Active experiments, newest first (``search_experiments``' default order)."""
        sql = (
            "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments "
            "WHERE lifecycle_stage = 'active' ORDER BY creation_time DESC, experiment_id"
        )
        args: tuple[object, ...] = ()
        if max_results is not None:
            sql += " LIMIT ?"
            args = (max_results,)
        with self._read() as con:
            rows = con.execute(sql, args).fetchall()
        return [Experiment(str(r[0]), r[1], r[2], r[3]) for r in rows]

    # -- runs -------------------------------------------------------------------------------

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[Run] | None:
        """``search_runs`` for the filters veolab writes (all pages); None for any other."""
        query = parse_filter(filter_string)
        order = parse_order(order_by)
        if query is None or order is None:
            return None
        try:
            ids = [int(e) for e in experiment_ids]
        except ValueError:
            return None
        if not ids:
            return []
        where = [f"r.experiment_id IN ({','.join('?' * len(ids))})", "r.lifecycle_stage = 'active'"]
        args: list[object] = list(ids)
        where += query.where
        args += query.values
        for key, value in query.tags:
            where.append(
                "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid "
                "AND t.key = ? AND t.value = ?)"
            )
            args += [key, value]
        sql = f"SELECT {_RUN_COLUMNS} FROM runs r WHERE {' AND '.join(where)} ORDER BY {order}"
        if max_results is not None:
            sql += " LIMIT ?"
            args.append(max_results)
        with self._read() as con:
            return self._runs(con, con.execute(sql, args).fetchall())

    def get_run(self, run_id: str) -> Run | None:
        """The run with this whole id, deleted or not (as ``get_run``), or None."""
        with self._read() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.run_uuid = ?", (run_id,)
            ).fetchall()
            runs = self._runs(con, rows)
        return runs[0] if runs else None

    def _runs(self, con: sqlite3.Connection, rows: list[tuple]) -> list[Run]:
        ids = [r[0] for r in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for rid, key, value in con.execute(
                f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", chunk
            ):
                tags[rid][key] = value
            for rid, key, value in con.execute(
                f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})", chunk
            ):
                params[rid][key] = value
            for rid, key, value, is_nan in con.execute(
                "SELECT run_uuid, key, value, is_nan FROM latest_metrics "
                f"WHERE run_uuid IN ({marks})",
                chunk,
            ):
                metrics[rid][key] = float("nan") if is_nan else float(value)
        out = []
        for rid, name, exp, user, status, start, end, stage, art in rows:
            info = RunInfo(
                run_id=rid,
                run_name=name or tags[rid].get(RUN_NAME_TAG),
                experiment_id=str(exp),
                user_id=user,
                status=status,
                start_time=start,
                end_time=end,
                lifecycle_stage=stage,
                artifact_uri=art,
            )
            out.append(Run(info, RunData(tags[rid], params[rid], metrics[rid])))
        return out

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of one metric, in ``get_metric_history``'s order."""
        with self._read() as con:
            rows = con.execute(
                "SELECT key, value, timestamp, step, is_nan FROM metrics "
                "WHERE run_uuid = ? AND key = ? ORDER BY timestamp, step, value",
                (run_id, key),
            ).fetchall()
        return [
            Metric(k, float("nan") if nan else float(v), ts, step) for k, v, ts, step, nan in rows
        ]

    # -- the one write: a rating -------------------------------------------------------------

    def append_metric(
        self, run_id: str, key: str, value: float, timestamp: int, tags: dict[str, str]
    ) -> int:
        """Log ``value`` at the next step of ``key`` (its number of values so far) and set
        ``tags``, in one transaction; return that step. A run that is not there or not active is
        a :class:`RunNotActiveError` (what ``log_batch`` refuses)."""
        try:
            con = sqlite3.connect(self.db, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise FastPathError(str(exc)) from exc
        try:
            con.execute("BEGIN IMMEDIATE")  # the step count and the insert see the same history
            try:
                step = self._append(con, run_id, key, value, timestamp, tags)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            return step
        except sqlite3.Error as exc:
            raise FastPathError(str(exc)) from exc
        finally:
            con.close()

    @staticmethod
    def _append(
        con: sqlite3.Connection,
        run_id: str,
        key: str,
        value: float,
        timestamp: int,
        tags: dict[str, str],
    ) -> int:
        row = con.execute(
            "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotActiveError(f"Run with id={run_id} not found")
        if row[0] != "active":
            raise RunNotActiveError(
                f"The run {run_id} must be in the 'active' state. Current state is {row[0]}."
            )
        (step,) = con.execute(
            "SELECT count(*) FROM metrics WHERE run_uuid = ? AND key = ?", (run_id, key)
        ).fetchone()
        con.execute(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            (key, value, timestamp, run_id, step),
        )
        latest = con.execute(
            "SELECT step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND key = ?",
            (run_id, key),
        ).fetchone()
        if latest is None:
            con.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (key, value, timestamp, step, run_id),
            )
        elif (step, timestamp, value) > tuple(latest):
            con.execute(
                "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = 0 "
                "WHERE run_uuid = ? AND key = ?",
                (value, timestamp, step, run_id, key),
            )
        for k, v in tags.items():
            con.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?) "
                "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value",
                (k, v, run_id),
            )
        return int(step)


class RunNotActiveError(Exception):
    """The run to write to is missing or deleted (MLflow's INVALID_PARAMETER_VALUE)."""


# -- artifacts beside a local store -----------------------------------------------------------


def local_artifact_dir(artifact_uri: str | None) -> Path | None:
    """The folder of a ``file://`` artifact URI (or a plain absolute path), else None."""
    if not artifact_uri:
        return None
    if artifact_uri.startswith("file:"):
        parsed = urlparse(artifact_uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if "://" not in artifact_uri and os.path.isabs(artifact_uri):
        return Path(artifact_uri)
    return None


def _inside(root: Path, path: str | None) -> Path:
    target = (root / os.path.normpath(path)) if path else root
    if not target.resolve().is_relative_to(root.resolve()):
        raise FastPathError(f"artifact path {path!r} leaves the run's artifact folder")
    return target


def list_artifacts(root: Path, path: str | None = None) -> list[str]:
    """The paths (relative to the run's root) of what ``path`` holds, sorted, as
    ``LocalArtifactRepository.list_artifacts`` lists them."""
    folder = _inside(root, path)
    if not folder.is_dir():
        return []
    base = os.path.normpath(path) if path else ""
    return sorted(
        f"{base}/{p.name}" if base else p.name
        for p in folder.iterdir()
        if not p.name.startswith(".artifact.uploading.")  # MLflow hides uploads in flight
    )


def copy_artifact(root: Path, path: str, dst: Path) -> Path:
    """Copy the artifact ``path`` (a file or a folder) to ``dst/path``, as
    ``download_artifacts`` does; a missing one is a :class:`FastPathError`."""
    src = _inside(root, path)
    out = dst / os.path.normpath(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, out, dirs_exist_ok=True)
    elif src.is_file():
        shutil.copy2(src, out)
    else:
        raise FastPathError(f"no artifact {path!r}")
    return out


__all__ = [
    "TESTED_REVISIONS",
    "Experiment",
    "FastPathError",
    "Metric",
    "Run",
    "RunData",
    "RunInfo",
    "RunNotActiveError",
    "SqliteStore",
    "copy_artifact",
    "list_artifacts",
    "local_artifact_dir",
    "parse_filter",
    "sqlite_path",
]
