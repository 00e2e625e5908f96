"""A throwaway PostgreSQL cluster and ``mlflow server`` on it, for the team tests (the ``pg``,
``pg_url`` and ``mlflow_on_pg`` fixtures of conftest.py) and bench/bench_team.py.

    with postgres_cluster() as pg:                  # initdb + pg_ctl start on 127.0.0.1
        url = pg.create_database("ledger")          # postgresql+psycopg://veolab@127.0.0.1:P/ledger
        with mlflow_server(pg.create_database("mlflow"), folder / "artifacts", folder) as uri:
            ...

Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``) or any ``initdb`` on
PATH. PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user
(the Debian package makes it) and its commands run through ``runuser``. Trust authentication on
127.0.0.1 only, a socket in the cluster's own folder, fsync off (a test's cluster dies with it;
the bench turns it back on). Every server started here is stopped when its ``with`` ends: a fast
shutdown, then SIGKILL to what is left.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

START_S = 300  # a loaded machine (load 8 on 2 cores) takes minutes to start mlflow server
USER = "veolab"  # the cluster's superuser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are (the newest Debian version first), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parents[1].name)
    except ValueError:
        return 0.0


def unavailable() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    if pg_bindir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as postgres"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'veolab[team]')"
    return None


@dataclass
class Cluster:
    port: int
    data: Path
    log: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A new cluster in a new folder of the system's temporary folder (not pytest's, which only
    root may enter), on a free port of 127.0.0.1; stopped and deleted when the block ends.
    ``durable`` keeps fsync on."""
    why = unavailable()
    if why:
        raise RuntimeError(why)
    bindir = pg_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="veolab-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, log, port = root / "data", root / "postgres.log", free_port()
    run = [*_as_postgres([str(bindir / "initdb")]), "-D", str(data), "-U", USER]
    subprocess.run(
        [*run, "--auth=trust", "-E", "UTF8", "--no-instructions"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    ctl = _as_postgres([str(bindir / "pg_ctl")])
    started = subprocess.run(
        [*ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120", "start"],
        capture_output=True,
        text=True,
    )
    try:
        if started.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{tail}")
        yield Cluster(port, data, log)
    finally:
        stopped = subprocess.run(
            [*ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"], capture_output=True
        )
        if stopped.returncode != 0:
            _kill_postmaster(data)
        shutil.rmtree(root, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: Path, folder: Path) -> Iterator[str]:
    """``mlflow server --backend-store-uri BACKEND --artifacts-destination ARTIFACTS`` on a free
    port of 127.0.0.1 (its log in ``folder``); its address. SIGTERM to its process group when
    the block ends, SIGKILL after 20 s."""
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "NO_PROXY": "127.0.0.1"}
    log = folder / f"mlflow-server-{port}.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend]
    cmd += ["--artifacts-destination", str(artifacts)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer within {START_S} s ({log})")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
