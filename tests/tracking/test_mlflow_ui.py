"""Review in the MLflow UI that veolab installs, as docs/mlflow.md describes it.

Starts ``mlflow server`` on a free local port over the shared sweep's store and opens it in
headless Chromium: the address ``veolab ui`` prints opens on the runs table (not MLflow's GenAI
views) with the compact run names, where a documented filter (``IS NULL``) works; the chart
view's image card shows the frames of two runs at the step the slider picks; a child run's
artifact pages show the stills and contact sheet and play the MP4 (MLflow 3.x previews .mp4 as
video; 2.x took it for audio). Screenshots are kept for a person (tests/browser.py:
keep_screenshot). The filters of docs/mlflow.md are checked through ``search_runs`` in
test_mlflow_filters.py.
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
from browser import keep_screenshot, needs_chromium, open_page, wait_media
from helpers import BRIGHT, DARK, invoke
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from veolab.tracking import schema as S


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


def _runs_view(browser, url: str):
    """The page at ``url`` once MLflow's runs table is there, its assistant panel closed."""
    page = open_page(browser, url, timeout=120)
    page.get_by_text("Run Name", exact=True).first.wait_for(timeout=120_000)
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.last.click()
    return page


def _show_generations(page, name: str) -> None:
    """Expand the parent runs (their +; the UI remembers it) until generation ``name`` shows."""
    shown = page.get_by_text(name, exact=True)
    try:
        shown.wait_for(timeout=5_000)
        return
    except PlaywrightTimeout:
        pass
    expand = page.locator("button[data-component-id$='runnamecellrenderer.tsx_46']")
    for i in range(expand.count()):
        expand.nth(i).click()
    shown.wait_for(timeout=60_000)


def _names(page) -> list[str]:
    return page.locator("[role=row] a[href*='/runs/']").all_inner_texts()


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_veolab_ui_opens_the_runs_view_and_a_documented_filter_works(
    sweep, mlflow_server, browser, tmp_path
):
    r = invoke("ui", "--tracking-uri", mlflow_server)
    assert r.exit_code == 0, r.output
    url = f"{mlflow_server}/#/experiments/{sweep.experiment_id}/runs?workflowType=machine_learning"
    assert r.output == f"MLflow UI of the tracking server: {url} (cmp-e2e)\n"
    page = _runs_view(browser, url)
    # MLflow's "Model training" side: the runs table, not the GenAI overview or evaluations
    assert page.get_by_role("heading", name="Runs", exact=True).is_visible()
    assert "/runs" in page.url and "workflowType=machine_learning" in page.url
    # (the GenAI side's heading is "Training runs", beside "Evaluation runs" in its menu)
    assert "Evaluation runs" not in page.inner_text("body")
    _show_generations(page, "dark s3")
    names = _names(page)
    assert sorted(n for n in names if not n.startswith("sweep ")) == sorted(
        f"{label[9:].split()[0]} s{seed}" for label, seed in sweep.runs
    )
    # the Dataset column: the plan, on the sweep and its generations
    assert page.get_by_text("cmp-e2e plan", exact=False).count() == 7
    page.screenshot(path=tmp_path / "mlflow-runs.png")
    keep_screenshot(tmp_path / "mlflow-runs.png")

    search = page.locator("input[placeholder*='metrics.rmse']")
    search.fill(f"{S.FILTER_GENERATIONS} AND tags.`veolab.variant_label` = '{DARK}'")
    search.press("Enter")
    page.get_by_text("4 matching runs").wait_for(timeout=60_000)  # the sweep and its 3 dark runs
    _show_generations(page, "dark s3")
    assert sorted(n for n in _names(page) if not n.startswith("sweep ")) == [
        "dark s1",
        "dark s2",
        "dark s3",
    ]
    page.screenshot(path=tmp_path / "mlflow-filter.png")
    keep_screenshot(tmp_path / "mlflow-filter.png")

    # a run's page drops the address's choice (MLflow 3.17 shows it under GenAI's
    # "Evaluations"); "Model training" clicked once, the browser keeps it (docs/mlflow.md)
    run_page = f"{mlflow_server}/#/experiments/{sweep.experiment_id}/runs/{sweep.runs[(DARK, 1)]}"
    page.goto(run_page)
    page.get_by_text("Model training", exact=True).first.click()
    page.get_by_text("Run Name", exact=True).first.wait_for(timeout=60_000)
    page.goto(run_page)
    page.get_by_role("tab", name="Artifacts").wait_for(timeout=60_000)
    assert page.get_by_role("heading", name="dark s1").is_visible()
    assert "Evaluations" not in page.inner_text("body")
    page.screenshot(path=tmp_path / "mlflow-run.png")
    keep_screenshot(tmp_path / "mlflow-run.png")
    page.close()


# each image's place on the page: x, y, width, height
_BOXES = """
imgs => imgs.map(i => {
  const r = i.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height];
})
"""

# every image of the chart view's image card: its source (the step is in the file name) and
# whether it decoded
_CARD_IMAGES = """
card => [...card.querySelectorAll('img')].map(i => ({
  src: decodeURIComponent(i.getAttribute('src')), w: i.naturalWidth, done: i.complete,
}))
"""


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_the_image_card_shows_the_frames_of_two_runs_at_one_step(
    sweep, mlflow_server, browser, tmp_path
):
    url = f"{mlflow_server}/#/experiments/{sweep.experiment_id}/runs?workflowType=machine_learning"
    page = _runs_view(browser, url)
    page.set_viewport_size({"width": 1400, "height": 1400})
    _show_generations(page, "dark s3")
    chart_view = page.locator("label").filter(has=page.locator("input[value=CHART]"))
    chart_view.click()
    title = page.get_by_text(S.IMAGE_FRAMES, exact=True).first
    title.wait_for(timeout=60_000)
    # two runs to compare: hide the others (the eye icons)
    shown = {"bright s2", "dark s2"}
    for name in [n for n in _names(page) if n not in shown]:
        row = page.locator("[role=row]").filter(has=page.get_by_text(name, exact=True)).first
        row.locator("label").filter(has=page.locator("input.is-visibility-toggle-checkbox")).click()
    # as docs/mlflow.md says: the card's menu, Configure, "Show run parameters" off, Save
    page.locator("[data-testid=experiment-view-compare-runs-card-menu]").first.click()
    page.get_by_role("menuitem", name="Configure").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("switch").click()
    dialog.get_by_role("button", name="Save changes").click()
    dialog.wait_for(state="hidden", timeout=30_000)
    # then widen the card (drag its bottom right corner): the runs stand side by side
    resize = page.locator("[data-testid=draggable-card-resize-handle]").first
    card = resize.locator("xpath=..")
    handle = resize.bounding_box()
    assert handle is not None
    page.mouse.move(handle["x"] + 8, handle["y"] + 8)
    page.mouse.down()
    page.mouse.move(1370, handle["y"] + 150, steps=25)
    page.mouse.up()

    def frames(step: int) -> list[dict]:
        deadline = time.monotonic() + 60
        while True:
            imgs = card.evaluate(_CARD_IMAGES)
            if len(imgs) == 2 and all(f"+step+{step}+" in i["src"] and i["w"] for i in imgs):
                return imgs
            if time.monotonic() > deadline:
                raise AssertionError(f"the card shows {imgs}, not two frames of step {step}")
            time.sleep(0.5)

    ids = {sweep.runs[(BRIGHT, 2)], sweep.runs[(DARK, 2)]}
    first = frames(0)
    assert {i["src"].rsplit("run_uuid=", 1)[1] for i in first} == ids
    assert all(i["src"].startswith("get-artifact?path=images/video~frames+step+0+") for i in first)
    assert {i["w"] for i in first} == {256}  # MLflow's compressed copy of a 320 px still
    slider = card.locator("[role=slider]")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    later = frames(5)
    assert {i["src"].rsplit("run_uuid=", 1)[1] for i in later} == ids
    text = card.inner_text()
    assert "bright s2" in text and "dark s2" in text and "dark s1" not in text
    assert "prompt=" not in text  # the run parameters are hidden
    # side by side: one row, two columns, both in the viewport
    left, right = sorted((b for b in card.locator("img").evaluate_all(_BOXES)), key=lambda b: b[0])
    assert abs(left[1] - right[1]) < 5 and right[0] >= left[0] + left[2]
    assert max(left[1] + left[3], right[1] + right[3]) <= 1400
    page.screenshot(path=tmp_path / "mlflow-frames.png")
    keep_screenshot(tmp_path / "mlflow-frames.png")
    page.close()
