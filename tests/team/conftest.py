"""Fixtures of the team tests: a throwaway PostgreSQL cluster for the session (``postgres.py``),
a new database of it per test, and ``mlflow server`` on a database of it.

    def test_x(pg_url):                    # postgresql+psycopg://veolab@127.0.0.1:P/t_<n>
    def test_y(pg, mlflow_on_pg):          # mlflow_on_pg() -> http://127.0.0.1:<port>

Tests that need PostgreSQL skip, with the reason, only where it cannot be started (not
installed: ``.ci/run`` installs Debian's ``postgresql`` as root).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import Cluster, mlflow_server, postgres_cluster, unavailable

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster on 127.0.0.1 (stopped and deleted at the end)."""
    why = unavailable()
    if why:
        pytest.skip(why)
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg: Cluster) -> str:
    """A new, empty database of the session's cluster: its SQLAlchemy URL."""
    return pg.create_database(f"t_{next(_numbers)}")


@pytest.fixture
def mlflow_on_pg(pg: Cluster, tmp_path: Path) -> Iterator:
    """mlflow_on_pg() -> the address of a new ``mlflow server`` whose backend store is a new
    database of the cluster and whose artifacts are proxied to ``tmp_path/artifacts``; stopped
    when the test ends."""
    with contextlib.ExitStack() as stack:

        def start() -> str:
            n = next(_numbers)
            backend = pg.create_database(f"mlflow_{n}")
            folder = tmp_path / f"mlflow-server-{n}"
            folder.mkdir()
            return stack.enter_context(mlflow_server(backend, tmp_path / "artifacts", folder))

        yield start
