"""Review in the MLflow UI that veolab installs: a child run's stills, contact sheet and video.

Starts ``mlflow server`` on a free local port over the shared sweep's store, opens the run's
artifact pages in headless Chromium and checks what a person would see: the images decode and
the MP4 plays (MLflow 3.x previews .mp4 as video; 2.x took it for audio). Also runs the
``search_runs`` filters docs/compare.md gives for the review workflow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from browser import needs_chromium, open_page, wait_media
from helpers import BRIGHT, DARK, NAME, StubAnalysis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(sweep):
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "NO_PROXY": "127.0.0.1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            sweep.uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # minutes under load
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 90 s")
            time.sleep(0.3)
        yield url
    finally:
        # the server and its workers, all in the session it leads: SIGTERM, then SIGKILL if a
        # loaded machine keeps them past 20 s (a test always stops what it started)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_ARTIFACT_MEDIA = (
    "[...document.querySelectorAll('img, video')]"
    ".some(e => (e.currentSrc || e.src || '').startsWith('blob:'))"
)


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_child_run_artifacts_render_and_the_video_plays(sweep, mlflow_server, browser, tmp_path):
    rid = sweep.runs[(BRIGHT, 2)]
    base = f"{mlflow_server}/#/experiments/{sweep.experiment_id}/runs/{rid}/artifacts"
    page = open_page(browser, f"{base}/video.mp4")
    state = wait_media(page, min_videos=1, until=_ARTIFACT_MEDIA)
    page.screenshot(path=tmp_path / "mlflow-video.png")
    page.close()
    [video] = [v for v in state.videos if v["src"].startswith("blob:")]
    assert video["error"] is None, video
    assert video["readyState"] >= 2 and video["currentTime"] > 0 and video["presented"]
    assert (video["w"], video["h"], video["duration"]) == (1280, 720, 4)

    for name, size in (
        ("contact_sheet.jpg", None),
        ("thumbnails/first.jpg", (320, 180)),
        ("thumbnails/middle.jpg", (320, 180)),
    ):
        page = open_page(browser, f"{base}/{name}")
        state = wait_media(page, min_images=1, until=_ARTIFACT_MEDIA)
        shown = [i for i in state.images if i["src"].startswith("blob:")]
        assert shown, f"{name}: no artifact image on the page"
        assert state.broken_images == []
        assert all(i["w"] > 0 for i in shown)
        if size:
            assert {(i["w"], i["h"]) for i in shown} == {size}
        page.screenshot(path=tmp_path / f"mlflow-{name.replace('/', '-')}.png")
        page.close()


def test_documented_search_filters(sweep, tmp_path):
    """The search_runs filters of the review workflow in docs/compare.md find the right runs."""
    from types import SimpleNamespace

    import mlflow

    from veolab.request import VideoRequest
    from veolab.tracking.generation import GenerationRecord, log_generation
    from veolab.tracking.store import Tracker

    uri = sweep.isolated(tmp_path)
    # one more run of the dark variant that failed two checks
    bad = StubAnalysis({"brightness_mean": 3.0})
    bad.passed = False
    bad.checks = [
        SimpleNamespace(name="black_segments", passed=False),
        SimpleNamespace(name="audio_not_silent", passed=False),
        SimpleNamespace(name="duration", passed=True),
    ]
    req = VideoRequest(prompt="a dark stage", resolution="720p", duration=4, seed=9)
    rec = GenerationRecord(
        req,
        "sim",
        "veo-3.1",
        variant_id="dark",
        variant_label=DARK,
        vars={"lighting": "dark moonlit night"},
    )
    tracker = Tracker(uri)
    bad_id = log_generation(tracker, sweep.experiment_id, sweep.parent_id, rec, b"v", bad, None)

    def search(flt: str) -> list[str]:
        df = mlflow.search_runs(experiment_names=[NAME], filter_string=flt)
        return sorted(df["run_id"]) if len(df) else []

    mlflow.set_tracking_uri(uri)
    try:
        gen = "tags.`veolab.kind` = 'generation'"
        assert search(f"{gen} AND tags.`veolab.variant_label` = '{DARK}'") == sorted(
            [sweep.runs[(DARK, s)] for s in (1, 2, 3)] + [bad_id]
        )
        assert search(f"{gen} AND params.`var.lighting` = 'dark moonlit night'") == sorted(
            [sweep.runs[(DARK, s)] for s in (1, 2, 3)] + [bad_id]
        )
        assert search(f"{gen} AND tags.`veolab.seed` = '2'") == sorted(
            [sweep.runs[(BRIGHT, 2)], sweep.runs[(DARK, 2)]]
        )
        every = mlflow.search_runs(experiment_names=[NAME], filter_string=gen)
        failed = sorted(every[every["metrics.checks_passed"] == 0]["run_id"])
        assert bad_id in failed
        assert search(f"{gen} AND metrics.checks_passed = 0") == failed
        assert search(f"{gen} AND tags.`veolab.checks_passed` = 'false'") == failed
        black = search(f"{gen} AND tags.`veolab.failed_checks` LIKE '%black_segments%'")
        assert bad_id in black and set(black) <= set(failed)
        assert search(f"{gen} AND metrics.`check.audio_not_silent` = 0") == [bad_id]
    finally:
        mlflow.set_tracking_uri(None)
