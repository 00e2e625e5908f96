"""Writing and reading veolab's runs in MLflow (the names live in ``tracking.schema``).

    >>> t = Tracker()                     # MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db
    >>> exp_id = t.experiment_id("quickstart")

All writes go through one lock: MLflow's SQLite store does not like concurrent writers, and the
runner logs from worker threads while it waits on the provider.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from veolab.errors import TrackingError
from veolab.tracking import schema as S

DEFAULT_DIR = "mlruns"


def default_tracking_uri() -> str:
    return f"sqlite:///{DEFAULT_DIR}/mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _local_artifact_root(uri: str) -> str | None:
    """For a local SQLite store, artifacts go in an ``artifacts`` folder beside the database."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.resolve().parent / "artifacts").as_uri()
    return None


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
        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        # MLflow's REST client retries a refused connection for about four minutes by default;
        # a CLI user should hear about a wrong --tracking-uri in seconds (their own settings win)
        for name, value in (
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"),
        ):
            os.environ.setdefault(name, value)
        try:
            from mlflow.tracking import MlflowClient

            # MLflow announces its database migrations at INFO on stderr: noise for a CLI user
            for name in ("mlflow", "alembic"):
                logging.getLogger(name).setLevel(logging.WARNING)

            self.client = MlflowClient(tracking_uri=self.uri)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds at start-up
            raise TrackingError(f"cannot open the MLflow store {self.uri}: {exc}") from exc

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            with self.lock:
                return fn(*args, **kwargs)
        except TrackingError:
            raise
        except Exception as exc:  # noqa: BLE001 - convert every MLflow/SQL/HTTP failure
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            hint = ""
            if self.uri.startswith(("http://", "https://")):
                hint = "; is the server running? (check --tracking-uri or MLFLOW_TRACKING_URI)"
            raise TrackingError(f"MLflow {what} failed on {self.uri}: {msg}{hint}") from exc

    # -- experiments ----------------------------------------------------------------------

    def experiment_id(self, name: str, create: bool = True) -> str | None:
        def get() -> str | None:
            exp = self.client.get_experiment_by_name(name)
            if exp is not None:
                return exp.experiment_id
            if not create:
                return None
            return self.client.create_experiment(
                name, artifact_location=_local_artifact_root(self.uri)
            )

        return self._call("experiment lookup", get)

    def close_stale(self, experiment_id: str) -> list[str]:
        """Close as KILLED the RUNNING runs of a veolab process that no longer exists."""
        host = socket.gethostname()

        def close() -> list[str]:
            closed = []
            runs = self.client.search_runs(
                [experiment_id], "attributes.status = 'RUNNING'", max_results=1000
            )
            for run in runs:
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
        self, experiment_id: str, name: str, tags: dict[str, str], parent_id: str | None = None
    ) -> str:
        tags = {**tags, S.PID: str(os.getpid()), S.HOST: socket.gethostname()}
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id

        def create() -> str:
            return self.client.create_run(experiment_id, tags=tags, run_name=name).info.run_id

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
        self._call(
            "artifact upload", self.client.log_artifacts, run_id, str(local_dir), artifact_path
        )

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._call(
            "artifact upload", self.client.log_artifact, run_id, str(local_path), artifact_path
        )

    def terminate(self, run_id: str, status: str) -> None:
        self._call("end run", self.client.set_terminated, run_id, status)

    def get_run(self, run_id: str):
        return self._call("get run", self.client.get_run, run_id)

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        def dl() -> Path:
            import mlflow.artifacts

            return Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=self.uri
                )
            )

        return self._call("artifact download", dl)


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
