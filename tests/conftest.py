"""Shared test set-up: every test runs with isolated state and no keys or proxies.

The tracking store, the video store and caches live under ``tmp_path``; API keys, base URLs,
MLflow URIs and proxy variables are removed from the environment (as llm's ``env_setup`` and
httpx's ``clean_environ`` do).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VEO_FIXTURE = SHARED / "fixtures" / "veo31_image_to_video_720p_8s.mp4"

_SCRUB = (
    "SEGMIND_API_KEY",
    "SEGMIND_BASE_URL",
    "VEOLAB_VERTEX_TOKEN",
    "VEOLAB_VERTEX_BASE_URL",
    "VEOLAB_VERTEX_STORAGE_URL",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "REPLICATE_API_TOKEN",
    "REPLICATE_BASE_URL",
    "REPLICATE_POLL_INTERVAL",
    "FAL_KEY",
    "FAL_KEY_ID",
    "FAL_KEY_SECRET",
    "FAL_BASE_URL",
    "FAL_QUEUE_RUN_HOST",
    "SSL_CERT_FILE",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    home = tmp_path / "veolab-home"
    monkeypatch.setenv("VEOLAB_HOME", str(home))
    # Google's default credentials must find nothing of this machine's (gcloud's own folder)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    yield tmp_path
    # MLflow keeps a global tracking URI once set (veolab's traces set it to their store, as
    # MLflow's trace exporter reads it): forget it, or the next test's fluent calls use this store
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        mlflow.set_tracking_uri(None)


@pytest.fixture
def veo_fixture() -> Path:
    """The real Veo 3.1 clip from ../shared/fixtures (skips where ../shared is absent)."""
    if not VEO_FIXTURE.is_file():
        pytest.skip(f"real Veo clip not available at {VEO_FIXTURE}")
    return VEO_FIXTURE


def _png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (64, 36)) -> bytes:
    import cv2
    import numpy as np

    img = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    img[:] = colour[::-1]  # BGR
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@pytest.fixture
def make_png(tmp_path: Path):
    """make_png(name, (r, g, b), size=(w, h)) -> Path of a solid-colour PNG under tmp_path."""

    def _make(name: str, colour: tuple[int, int, int], size: tuple[int, int] = (64, 36)) -> Path:
        path = tmp_path / name
        path.write_bytes(_png_bytes(colour, size))
        return path

    return _make


@pytest.fixture(scope="session")
def sim_cache() -> dict:
    """A session-wide memo for simulator clips that several tests decode."""
    return {}


os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# google-auth reads this once, on import: no test ever probes the GCE metadata server
os.environ.setdefault("NO_GCE_CHECK", "true")


@pytest.fixture
def sim_server():
    """sim_server(**SimServerConfig fields) -> a running ``veolab sim serve`` on 127.0.0.1 and a
    free port, in a thread; ``.base_url``, ``.ledger()``, ``.inject_faults(...)``, ``.reset()``.
    Every server started here is stopped when the test ends."""
    import contextlib

    from veolab.simserver import SimServerConfig, serve_in_thread

    with contextlib.ExitStack() as stack:

        def start(**settings):
            return stack.enter_context(serve_in_thread(SimServerConfig(**settings)))

        yield start


@pytest.fixture
def browser():
    """A headless Chromium (Debian's, driven by Playwright; see tests/browser.py), closed when
    the test ends; skips when there is no chromium binary."""
    from browser import launch_chromium

    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def sweep(tmp_path_factory: pytest.TempPathFactory):
    """The simulator sweep compare, report, rerun, rate and the MLflow UI tests read
    (tests/helpers.py: ``shared_sweep``), made once per session."""
    from helpers import shared_sweep

    return shared_sweep(tmp_path_factory)


@pytest.fixture(scope="session")
def pg():
    """The session's throwaway PostgreSQL cluster on 127.0.0.1 (tests/postgres.py), stopped and
    deleted at the end; skips, saying why, where PostgreSQL cannot be started (not installed:
    .ci/run installs Debian's postgresql as root)."""
    from postgres import postgres_cluster, unavailable

    why = unavailable()
    if why:
        pytest.skip(why)
    with postgres_cluster() as cluster:
        yield cluster


_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg) -> str:
    """A new, empty database of the session's cluster: its SQLAlchemy URL
    (``postgresql+psycopg://veolab@127.0.0.1:<port>/t_<n>``)."""
    return pg.create_database(f"t_{next(_pg_databases)}")


@pytest.fixture
def mlflow_on_pg(pg, tmp_path: Path):
    """mlflow_on_pg() -> the address of a new ``mlflow server`` whose backend store is a new
    database of the cluster and whose artifacts are proxied to ``tmp_path/artifacts``; every
    server started is stopped when the test ends (SIGTERM, then SIGKILL)."""
    import contextlib

    from postgres import mlflow_server

    with contextlib.ExitStack() as stack:

        def start() -> str:
            n = next(_pg_databases)
            backend = pg.create_database(f"mlflow_{n}")
            folder = tmp_path / f"mlflow-server-{n}"
            folder.mkdir()
            return stack.enter_context(mlflow_server(backend, tmp_path / "artifacts", folder))

        yield start
