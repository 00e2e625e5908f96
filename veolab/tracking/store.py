"""Writing and reading veolab's runs in MLflow (the names live in ``tracking.schema``).

    t = Tracker()                     # MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db
    exp_id = t.experiment_id("quickstart")

All writes go through one lock: MLflow's SQLite store does not like concurrent writers, and the
runner logs from worker threads while it waits on the provider.

A local SQLite store (``sqlite:///`` URIs) is opened under a cross-process file lock beside it
(``mlflow.db.lock``): MLflow creates its tables and runs some 300 schema migrations on first use,
unguarded, so two first runs at once would trip over each other. A store that a killed process
left half-created (tables, but not MLflow's current schema revision) is moved aside to
``mlflow.db.broken-<time>`` and made anew when it holds no runs; when it holds runs, opening it
is a one-line :class:`TrackingError` that names the file and the fix.

On a local SQLite store the ``MlflowClient`` is made only when something needs it (a write, or a
read the fast path does not take): the reads ``plan``, ``runs``, ``compare`` and ``rate`` make,
and ``rate``'s one write, go to MLflow's tables directly (``sqlite_read``, same answers), so those
commands never import MLflow (about 3 s of CPU). Other stores open their client at once.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from veolab._host import host_name
from veolab.errors import ConfigError, StoreNotFoundError, TrackingError
from veolab.tracking import schema as S
from veolab.tracking.quiet import quiet_mlflow
from veolab.tracking.sqlite_read import (
    FastPathError,
    RunNotActiveError,
    SqliteStore,
    copy_artifact,
    list_artifacts,
    local_artifact_dir,
)

DEFAULT_DIR = "mlruns"

# run ids: MLflow's are 32 hex characters; a prefix of at least MIN_PREFIX of them names a run
RUN_ID_LENGTH = 32
MIN_PREFIX = 4
MAX_CANDIDATES = 10  # an ambiguous prefix lists this many runs
_HEX = re.compile(r"[0-9a-f]+")
MISS: Any = object()  # a fast read that could not answer: ask MLflow


def default_tracking_uri() -> str:
    return f"sqlite:///{DEFAULT_DIR}/mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def existing_store(tracking_uri: str | None = None) -> Tracker:
    """A :class:`Tracker` on a store that must already exist: commands that read (compare,
    report, runs, rate, rerun) never create a store, so a local SQLite file that is not there is
    a :class:`StoreNotFoundError` (exit 2) before MLflow is even imported."""
    uri = resolve_tracking_uri(tracking_uri)
    db = _sqlite_file(uri)
    if db is not None and not db.is_file():
        raise StoreNotFoundError(uri)
    return Tracker(uri)


def _local_artifact_root(uri: str) -> str | None:
    """For a local SQLite store, artifacts go in an ``artifacts`` folder beside the database."""
    db = _sqlite_file(uri)
    return (db.resolve().parent / "artifacts").as_uri() if db else None


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


# how long a process waits for another one to finish creating the store (minutes on a slow disk)
LOCK_TIMEOUT = 600.0


def _open_sqlite(uri: str, db: Path, open_client: Callable[[], Any]) -> Any:
    """``open_client()`` under the store's file lock, after repairing a half-created store."""
    from filelock import FileLock, Timeout

    lock = db.with_name(db.name + ".lock")
    try:
        with FileLock(lock, timeout=LOCK_TIMEOUT):
            _repair_half_created(uri, db)
            return open_client()
    except Timeout as exc:
        raise TrackingError(
            f"another process has held {lock} for {LOCK_TIMEOUT:.0f} s while creating the MLflow "
            "store; stop it, or check for a hung veolab process"
        ) from exc


def _schema_head() -> str | None:
    """MLflow's current schema revision (None when this MLflow hides it: MLflow judges alone)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return _get_latest_schema_revision()
    except Exception:  # noqa: BLE001 - a private helper; its absence only skips the repair
        return None


def _inspect(db: Path) -> tuple[set[str], str | None, int]:
    """Tables, alembic revision and number of runs of an SQLite file (stdlib only)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        tables = {
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
        version = None
        if "alembic_version" in tables:
            rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
            version = ",".join(sorted(r[0] for r in rows)) or None
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
        return tables, version, runs
    finally:
        con.close()


def _repair_half_created(uri: str, db: Path) -> None:
    """Move aside a store that a kill left half-created and that holds no runs.

    MLflow creates its tables and then migrates them one revision at a time, stamping each in
    ``alembic_version``; a kill part-way leaves tables without the current stamp, and every later
    open fails ("table ... already exists"). Called with the store's file lock held.
    """
    if not db.is_file():
        return  # MLflow creates it
    try:
        tables, version, runs = _inspect(db)
    except sqlite3.DatabaseError as exc:
        raise TrackingError(
            f"the MLflow store {db} is not a readable SQLite database ({exc}); "
            "move it aside, or pass another --tracking-uri"
        ) from exc
    if not tables:
        return  # an empty file: MLflow creates the tables
    head = _schema_head()
    if head is None or version == head:
        return
    found = version or "none"
    if runs:
        raise TrackingError(
            f"the MLflow store {db} is half-created or half-upgraded (schema {found}, this MLflow "
            f"needs {head}) and holds {_runs(runs)}, so veolab leaves it alone: back it up, "
            f"then run 'mlflow db upgrade {uri}', or move it aside to start a new store"
        )
    moved = _move_aside(db)
    print(
        f"veolab: the MLflow store {db} was left half-created (schema {found}, not {head}; "
        f"a killed first run?) and held no runs: moved it to {moved.name}, creating a new one",
        file=sys.stderr,
    )


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _move_aside(db: Path) -> Path:
    """Rename ``db`` (and any journal SQLite left beside it) to ``<name>.broken-<time>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = db.with_name(f"{db.name}.broken-{stamp}")
    n = 1
    while target.exists():
        target = db.with_name(f"{db.name}.broken-{stamp}-{n}")
        n += 1
    db.rename(target)
    # a journal must move with its database: left behind, SQLite would replay it on the new one
    for suffix in ("-journal", "-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Tracker:
    """One MLflow tracking store, as veolab uses it."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.uri = resolve_tracking_uri(tracking_uri)
        db = _sqlite_file(self.uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        # MLflow's REST client retries a refused connection for about four minutes by default;
        # a CLI user should hear about a wrong --tracking-uri in seconds (their own settings win)
        for name, value in (
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"),
        ):
            os.environ.setdefault(name, value)
        quiet_mlflow()  # no "View run ... at" lines burying veolab's own output
        self._db = db
        self._client: Any = None
        self._fast: SqliteStore | None = None
        self._fast_checked = False
        if db is None:
            self._open_client()  # nothing to read without MLflow: say now if it cannot start

    @property
    def client(self) -> Any:
        """The ``MlflowClient``, made on first use: a local SQLite store is read without it
        (``sqlite_read``), so ``runs``, ``compare``, ``plan`` and ``rate`` never import MLflow."""
        if self._client is None:
            with self.lock:
                if self._client is None:
                    self._open_client()
        return self._client

    def _open_client(self) -> None:
        db = self._db
        try:
            from mlflow.tracking import MlflowClient

            # MLflow announces its database migrations at INFO on stderr: noise for a CLI user
            for name in ("mlflow", "alembic"):
                logging.getLogger(name).setLevel(logging.WARNING)

            if db is None:
                self._client = MlflowClient(tracking_uri=self.uri)
            else:
                self._client = _open_sqlite(
                    self.uri, db, lambda: MlflowClient(tracking_uri=self.uri)
                )
        except TrackingError:
            raise
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds at start-up
            msg = _first_line(exc)
            if "already exists" in msg:
                # another program (mlflow ui?) creating the store without veolab's lock
                msg += "; another program may be creating this store: run again once it is done"
            raise TrackingError(f"cannot open the MLflow store {self.uri}: {msg}") from exc

    def _store(self) -> SqliteStore | None:
        """The store read directly (``sqlite_read``), or None: MLflow answers. Its schema is
        looked at once, when the file exists (MLflow makes a missing one on first use)."""
        if not self._fast_checked and self._db is not None and self._db.is_file():
            self._fast = SqliteStore.open(self.uri)
            self._fast_checked = True
        return self._fast

    def _fast_read(self, fn: Callable[[SqliteStore], Any]) -> Any:
        """``fn(store)`` on the fast path, or :data:`MISS` when MLflow must answer: no fast
        path, ``fn`` said MISS (a filter it does not take, a run it does not find: MLflow's
        answer or error is the one), or an SQLite error."""
        store = self._store()
        if store is None:
            return MISS
        try:
            with self.lock:
                return fn(store)
        except (FastPathError, OSError):
            return MISS

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            with self.lock:
                return fn(*args, **kwargs)
        except TrackingError:
            raise
        except Exception as exc:  # noqa: BLE001 - convert every MLflow/SQL/HTTP failure
            msg = _first_line(exc)
            hint = ""
            if self.uri.startswith(("http://", "https://")):
                hint = "; is the server running? (check --tracking-uri or MLFLOW_TRACKING_URI)"
            raise TrackingError(f"MLflow {what} failed on {self.uri}: {msg}{hint}") from exc

    # -- experiments ----------------------------------------------------------------------

    def experiment_id(self, name: str, create: bool = True) -> str | None:
        exp = self._fast_read(lambda st: st.experiment_by_name(name))
        if exp is not MISS and (exp is not None or not create):
            return exp.experiment_id if exp is not None else None

        def get() -> str | None:
            exp = self.client.get_experiment_by_name(name)
            if exp is not None:
                return exp.experiment_id
            if not create:
                return None
            try:
                return self.client.create_experiment(
                    name,
                    artifact_location=_local_artifact_root(self.uri),
                    tags={S.EXPERIMENT_KIND: S.EXPERIMENT_KIND_RUNS},
                )
            except Exception:
                # two first runs at once: the other process created it a moment ago
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
                return exp.experiment_id

        return self._call("experiment lookup", get)

    def mark_experiment(self, experiment_id: str) -> None:
        """Tag the experiment ``mlflow.experimentKind=custom_model_development``, so MLflow's UI
        opens on its runs table (not the GenAI "Evaluations" view, which it opens, or infers,
        for an experiment without the tag). Every command that writes runs calls it: an
        experiment made before veolab tagged them is tagged on its next run."""
        self._call(
            "experiment tag",
            self.client.set_experiment_tag,
            experiment_id,
            S.EXPERIMENT_KIND,
            S.EXPERIMENT_KIND_RUNS,
        )

    def close_stale(self, experiment_id: str, keep: Collection[str] = ()) -> list[str]:
        """Close as KILLED the RUNNING runs of a veolab process of this host that no longer
        exists, but those in ``keep`` (a team's sweep run, which its live workers share)."""
        host = host_name()

        def close() -> list[str]:
            closed = []
            runs = self.client.search_runs(
                [experiment_id], "attributes.status = 'RUNNING'", max_results=1000
            )
            for run in runs:
                if run.info.run_id in keep:
                    continue
                tags = run.data.tags
                pid = tags.get(S.PID)
                if tags.get(S.HOST) == host and pid and pid.isdigit() and _pid_alive(int(pid)):
                    continue  # a live veolab process still owns it
                if tags.get(S.HOST) not in (None, host) and pid:
                    continue  # another machine's run: leave it alone
                self.client.set_terminated(run.info.run_id, "KILLED")
                closed.append(run.info.run_id)
            return closed

        return self._call("cleanup of stale runs", close)

    def search(
        self, experiment_id: str, filter_string: str = "", order_by: list[str] | None = None
    ):
        """Every run matching ``filter_string`` (all pages)."""
        fast = self._fast_read(
            lambda st: _or_miss(st.search([experiment_id], filter_string, order_by))
        )
        if fast is not MISS:
            return fast

        def go() -> list:
            out: list = []
            token = None
            while True:
                page = self.client.search_runs(
                    [experiment_id],
                    filter_string,
                    max_results=1000,
                    order_by=order_by,
                    page_token=token,
                )
                out.extend(page)
                token = page.token
                if not token:
                    return out

        return self._call("search", go)

    def finished_by_hash(self, experiment_id: str, provider: str, model: str) -> dict[str, str]:
        """request hash -> run id of every FINISHED generation (one query for the whole plan)."""
        flt = (
            f"tags.`{S.KIND}` = '{S.KIND_GENERATION}' AND attributes.status = 'FINISHED' "
            f"AND tags.`{S.PROVIDER}` = '{provider}' AND tags.`{S.MODEL}` = '{model}'"
        )
        found: dict[str, str] = {}
        for run in self.search(experiment_id, flt):
            if run.data.tags.get(S.RERUN_OF):
                continue  # a rerun is a measurement of another run, not a planned run done
            h = run.data.tags.get(S.REQUEST_HASH)
            if h and h not in found:
                found[h] = run.info.run_id
        return found

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str,
        tags: dict[str, str],
        parent_id: str | None = None,
        *,
        start_time_ms: int | None = None,
    ) -> str:
        """A RUNNING run; ``start_time_ms`` (default: now) when what it records began."""
        tags = {**tags, S.PID: str(os.getpid()), S.HOST: host_name()}
        if parent_id:
            tags[S.PARENT_RUN_ID] = parent_id

        def create() -> str:
            run = self.client.create_run(
                experiment_id, start_time=start_time_ms, tags=tags, run_name=name
            )
            _remember_artifact_uri(run.info.run_id, run.info.artifact_uri)
            return run.info.run_id

        return self._call("create run", create)

    def log(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        m = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
        p = [Param(k, _param_value(v)) for k, v in (params or {}).items()]
        t = [RunTag(k, str(v)) for k, v in (tags or {}).items()]

        def batch() -> None:
            for i in range(0, max(len(m), len(p), len(t), 1), 100):
                self.client.log_batch(
                    run_id, metrics=m[i : i + 100], params=p[i : i + 100], tags=t[i : i + 100]
                )

        self._call("log", batch)

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        def upload() -> None:
            repo = self._artifact_repo(run_id)
            if repo is None:
                self.client.log_artifacts(run_id, str(local_dir), artifact_path)
            else:
                repo.log_artifacts(str(local_dir), artifact_path)

        self._call("artifact upload", upload)

    def log_images(self, run_id: str, key: str, images: list[Any]) -> None:
        """``images`` (RGB arrays) as MLflow's stepped images under ``key``, step 0, 1, ...:
        the chart view shows them as an image grid with a step slider, run beside run."""

        def log() -> None:
            for step, image in enumerate(images):
                self.client.log_image(run_id, image, key=key, step=step, synchronous=True)

        self._call("image upload", log)

    def log_inputs(self, run_id: str, datasets: list[Any]) -> None:
        """MLflow ``DatasetInput`` s as the run's inputs (``tracking.tables.plan_dataset``)."""
        self._call("dataset input", self.client.log_inputs, run_id, datasets)

    def log_table(self, run_id: str, frame: Any, artifact_file: str) -> None:
        """A pandas DataFrame as an MLflow table artifact (``MlflowClient.log_table``)."""
        self._call("table upload", self.client.log_table, run_id, frame, artifact_file)

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._call(
            "artifact upload", self.client.log_artifact, run_id, str(local_path), artifact_path
        )

    def _artifact_repo(self, run_id: str) -> Any:
        """The artifact store of a run this process created, without asking MLflow for the run.

        MlflowClient.log_artifacts reads the whole run back (params, metrics, tags) just to learn
        its artifact URI, which create_run already returned: a tenth of a generation's logging.
        """
        uri = _artifact_uris.get(run_id)
        if uri is None:
            return None
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

        # what MlflowClient does with the URI it looked up
        uri = add_databricks_profile_info_to_artifact_uri(uri, self.uri)
        return get_artifact_repository(uri, tracking_uri=self.uri)

    def terminate(self, run_id: str, status: str, *, end_time_ms: int | None = None) -> None:
        """End the run with ``status`` at ``end_time_ms`` (default: now)."""
        self._call("end run", self.client.set_terminated, run_id, status, end_time_ms)

    def get_run(self, run_id: str):
        run = self._fast_read(lambda st: _or_miss(st.get_run(run_id)))  # none: MLflow's error
        if run is not MISS:
            return run
        return self._call("get run", lambda: self.client.get_run(run_id))

    def find_run(self, run_id: str):
        """The run ``run_id`` names: its whole id, or (as git takes a short commit id) a prefix
        of at least 4 characters that one run's id starts with; None when no run matches.

        A prefix shorter than that, or one that several runs share, is a ConfigError (the latter
        lists them: id, experiment, variant, seed). An unreachable store still raises
        TrackingError: exit 3, never "no run".
        """
        ref = run_id.strip().lower()
        if len(ref) >= RUN_ID_LENGTH:
            return self._run_by_id(run_id.strip())
        if len(ref) < MIN_PREFIX:
            raise ConfigError(
                f"run id {run_id!r} is too short: give at least {MIN_PREFIX} characters of it "
                "(veolab runs lists the ids)"
            )
        found = self.runs_with_prefix(ref, limit=MAX_CANDIDATES + 1)
        if len(found) > 1:
            many = len(found) > MAX_CANDIDATES
            count = f"more than {MAX_CANDIDATES}" if many else str(len(found))
            shown = ", ".join(self._candidate(r) for r in found[:MAX_CANDIDATES])
            raise ConfigError(
                f"run id {run_id!r} is ambiguous: {count} runs start with it: {shown}"
                f"{', ...' if many else ''}; give more characters of the one you mean"
            )
        return found[0] if found else None

    def _run_by_id(self, run_id: str):
        run = self._fast_read(lambda st: st.get_run(run_id))
        if run is not MISS:
            return run
        from mlflow.exceptions import MlflowException

        try:
            with self.lock:
                return self.client.get_run(run_id)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            return self._call("get run", self.client.get_run, run_id)
        except Exception:  # noqa: BLE001 - converted (with the hint) by _call
            return self._call("get run", self.client.get_run, run_id)

    def runs_with_prefix(self, prefix: str, limit: int = MAX_CANDIDATES + 1) -> list:
        """Up to ``limit`` runs (not deleted, in any experiment) whose id starts with ``prefix``,
        oldest first. MLflow's search takes ``attributes.run_id LIKE '<prefix>%'`` on every store
        (SQL, file, server), so the database does the matching."""
        prefix = prefix.lower()
        if not _HEX.fullmatch(prefix):
            return []  # MLflow's ids are hex: nothing starts with anything else
        flt = f"attributes.run_id LIKE '{prefix}%'"
        fast = self._fast_read(
            lambda st: _or_miss(
                st.search(
                    [e.experiment_id for e in st.experiments()],
                    flt,
                    ["attributes.start_time ASC"],
                    max_results=limit,
                )
            )
        )
        if fast is not MISS:
            return sorted(fast, key=lambda r: r.info.start_time or 0)

        def go() -> list:
            ids = [e.experiment_id for e in self._experiments()]
            found: list = []
            for i in range(0, len(ids), 100):
                found += self.client.search_runs(
                    ids[i : i + 100],
                    flt,
                    max_results=limit - len(found),
                    order_by=["attributes.start_time ASC"],
                )
                if len(found) >= limit:
                    break
            return sorted(found, key=lambda r: r.info.start_time or 0)

        return self._call("run lookup", go)

    def newest_run(self, filter_string: str = ""):
        """The most recently started run matching ``filter_string`` in any experiment, or None
        (``veolab runs`` without an experiment lists the newest generation's)."""
        fast = self._fast_read(
            lambda st: _or_miss(
                st.search(
                    [e.experiment_id for e in st.experiments()],
                    filter_string,
                    ["attributes.start_time DESC"],
                    max_results=1,
                )
            )
        )
        if fast is not MISS:
            return fast[0] if fast else None

        def go():
            ids = [e.experiment_id for e in self._experiments()]
            newest = None
            for i in range(0, len(ids), 100):
                page = self.client.search_runs(
                    ids[i : i + 100],
                    filter_string,
                    max_results=1,
                    order_by=["attributes.start_time DESC"],
                )
                if page and (newest is None or page[0].info.start_time > newest.info.start_time):
                    newest = page[0]
            return newest

        return self._call("search", go)

    def _experiments(self) -> list:
        """Every active experiment (all pages); call it inside ``_call``."""
        out: list = []
        token = None
        while True:
            page = self.client.search_experiments(max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def _candidate(self, run) -> str:
        """``<id> (<experiment>, variant <v>, seed <s>)``, or the run's kind for a parent run."""
        tags = run.data.tags
        try:
            where = self.experiment_name(run.info.experiment_id)
        except TrackingError:
            where = f"experiment {run.info.experiment_id}"
        kind = tags.get(S.KIND)
        if kind == S.KIND_GENERATION:
            what = f"variant {tags.get(S.VARIANT, '?')}, seed {tags.get(S.SEED, '?')}"
        else:
            what = f"{kind or 'non-veolab'} run"
        return f"{run.info.run_id} ({where}, {what})"

    def experiment_name(self, experiment_id: str) -> str:
        exp = self._fast_read(lambda st: _or_miss(st.experiment(experiment_id)))
        if exp is MISS:
            exp = self._call("get experiment", lambda: self.client.get_experiment(experiment_id))
        return exp.name

    def experiment_names(self, max_results: int = 50) -> list[str]:
        exps = self._fast_read(lambda st: st.experiments(max_results))
        if exps is MISS:
            exps = self._call(
                "list experiments",
                lambda: self.client.search_experiments(max_results=max_results),
            )
        return [e.name for e in exps]

    def _artifact_dir(self, st: SqliteStore, run_id: str) -> Path | None:
        """The local folder of a run's artifacts (None: MLflow knows where they are)."""
        run = st.get_run(run_id)
        return local_artifact_dir(run.info.artifact_uri) if run is not None else None

    def artifact_names(self, run_id: str, path: str | None = None) -> list[str]:
        def fast(st: SqliteStore) -> Any:
            root = self._artifact_dir(st, run_id)
            return MISS if root is None else list_artifacts(root, path)

        names = self._fast_read(fast)
        if names is not MISS:
            return names
        files = self._call("list artifacts", lambda: self.client.list_artifacts(run_id, path))
        return [f.path for f in files]

    def metric_history(self, run_id: str, key: str) -> list:
        history = self._fast_read(lambda st: st.metric_history(run_id, key))
        if history is not MISS:
            return history
        return self._call("metric history", lambda: self.client.get_metric_history(run_id, key))

    def log_metric_step(
        self, run_id: str, key: str, value: float, step: int, tags: dict[str, str] | None = None
    ) -> None:
        """One metric value at ``step`` (a history, like ratings), with tags, in one batch."""
        import time

        from mlflow.entities import Metric, RunTag

        metric = Metric(key, value, int(time.time() * 1000), step)
        run_tags = [RunTag(k, v) for k, v in (tags or {}).items()]
        self._call("log", self.client.log_batch, run_id, metrics=[metric], tags=run_tags)

    def append_metric(
        self, run_id: str, key: str, value: float, tags: dict[str, str] | None = None
    ) -> int:
        """Log ``value`` as the next step of the metric ``key`` (a history, like ratings) with
        ``tags``; return that step (the number of values before it).

        On a local SQLite store this is one SQLite transaction, written as MLflow's
        ``SqlAlchemyStore.log_batch`` writes it (``sqlite_read.SqliteStore.append_metric``), so
        ``veolab rate`` does not import MLflow; elsewhere, MLflow's history and ``log_batch``.
        """
        import time

        now = int(time.time() * 1000)
        st = self._store()
        if st is not None:
            try:
                with self.lock:
                    return st.append_metric(run_id, key, value, now, tags or {})
            except RunNotActiveError as exc:
                raise TrackingError(f"MLflow log failed on {self.uri}: {exc}") from exc
            except FastPathError:
                pass  # MLflow writes it, or says why not
        step = len(self.metric_history(run_id, key))
        self.log_metric_step(run_id, key, value, step, tags)
        return step

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        def fast(st: SqliteStore) -> Any:
            root = self._artifact_dir(st, run_id)
            return MISS if root is None else copy_artifact(root, path, dst)

        local = self._fast_read(fast)
        if local is not MISS:
            return local

        def dl() -> Path:
            import mlflow.artifacts

            return Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=self.uri
                )
            )

        return self._call("artifact download", dl)


# run id -> artifact URI of the runs this process created (the newest ones; MLflow keeps a
# cache like it, of artifact repositories, for the runs it had to look up)
_artifact_uris: dict[str, str] = {}
_artifact_uris_lock = threading.Lock()  # Trackers of other stores hold other locks
_ARTIFACT_URIS_KEPT = 1024


def _remember_artifact_uri(run_id: str, uri: str) -> None:
    with _artifact_uris_lock:
        _artifact_uris[run_id] = uri
        while len(_artifact_uris) > _ARTIFACT_URIS_KEPT:
            del _artifact_uris[next(iter(_artifact_uris))]


def _or_miss(value: Any) -> Any:
    """None (the fast path cannot answer) as :data:`MISS`."""
    return MISS if value is None else value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _param_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(_param_value(x) for x in v)
    s = str(v)
    return (
        s if len(s) <= S.PARAM_MAX else s[: S.PARAM_MAX - 40] + " …[cut: full text in prompt.txt]"
    )
