"""The report's synchronized player and its layouts, in headless Chromium.

The player (veolab/review/static/player.js, inlined into the report) is checked on the shared
sweep's report (2 groups x 3 seeds: one transport per seed for two videos): the videos of a seed
stay within a frame (1/24 s) of each other after a seek and after 3 s of playback, a frame step
moves them all one frame, the wipe view overlays two of them, an A-B loop stays inside A-B. The
layouts on a sweep that crosses two variables (subject x lighting, 2 x 2, 2 seeds): a grid per
seed with linked playback across its four tiles, and four columns, neither clipped at 1400 or
900 pixels, seed rows lined up. Screenshots are kept (tests/browser.py: keep_screenshot).
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from browser import keep_screenshot, needs_chromium, open_page, screenshot_page
from helpers import NAME, TEMPLATE

from veolab.errors import ConfigError
from veolab.report import write_report
from veolab.report.layout import seed_rows

FRAME = 1 / 24

CROSSED = "grid-e2e"
CROSSED_EXPERIMENT = f"""\
name: {CROSSED}
template: scene.j2
vars:
  subject: [a red fox, a grey wolf]
  lighting: [bright sunny morning light, dark moonlit night]
params:
  resolution: 720p
  duration: 4
  generate_audio: true
seeds: [1, 2]
provider:
  name: sim
concurrency: 2
"""


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory) -> Path:
    """The shared sweep's report (two groups, three seeds), written once for this module."""
    out = tmp_path_factory.mktemp("player") / "report.html"
    write_report(NAME, out, tracking_uri=sweep.uri, log_to_mlflow=False)
    return out


@pytest.fixture(scope="module")
def crossed(tmp_path_factory) -> str:
    """A sweep of two crossed variables (2 x 2 groups, 2 seeds): its tracking URI."""
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan

    root = tmp_path_factory.mktemp("crossed")
    (root / "prompts").mkdir()
    (root / "prompts" / "scene.j2").write_text(TEMPLATE)
    (root / "exp.yaml").write_text(CROSSED_EXPERIMENT)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = {"VEOLAB_HOME": str(root / "home"), "MLFLOW_TRACKING_URI": uri}
    with mock.patch.dict(os.environ, env):
        result = run_plan(
            plan_experiment(load_experiment(root / "exp.yaml")), RunOptions(tracking_uri=uri)
        )
    assert result.counts["failed"] == 0, result.outcomes
    return uri


def _player(i: int) -> str:
    return f"VeolabPlayer.players[{i}]"


def _wait_settled(page, i: int) -> list[float]:
    """Every video of player i has its frame (not seeking, a decoded frame): their times."""
    page.wait_for_function(
        f"{_player(i)}.videos.every(v => !v.seeking && v.readyState >= 2)", timeout=120_000
    )
    return page.evaluate(f"{_player(i)}.times()")


def _wait_playing_past(page, i: int, t: float) -> dict:
    """Wait until player i's clock passed ``t`` while playing; the times at that moment, read
    in one task (what the page shows then)."""
    handle = page.wait_for_function(
        f"""() => {{ const p = {_player(i)};
            return p.time() >= {t} && {{times: p.times(), playing: p.playing(),
                                         paused: p.videos.map(v => v.paused)}}; }}""",
        timeout=180_000,
    )
    return handle.json_value()


# every animation frame while all videos play: the spread of their times (a figure, printed)
_SAMPLE_JS = """(i) => { const p = VeolabPlayer.players[i]; const s = window.__spreads = [];
  (function f() {
    if (p.videos.every(v => !v.paused && !v.seeking)) s.push([p.time(), p.spread()]);
    if (s.length < 20000) requestAnimationFrame(f);
  })(); }"""


def _spread(times: list[float]) -> float:
    return max(times) - min(times)


def test_seed_rows_line_up_runs_by_seed():
    a = [{"seed": 2, "id": "a2"}, {"seed": 1, "id": "a1"}, {"seed": None, "id": "a?"}]
    b = [{"seed": 1, "id": "b1"}, {"seed": 3, "id": "b3"}, {"seed": 1, "id": "b1'"}]
    rows = seed_rows([a, b])
    assert [(r["seed"], [c and c["id"] for c in r["cells"]]) for r in rows] == [
        (1, ["a1", "b1"]),
        (1, [None, "b1'"]),
        (2, ["a2", None]),
        (3, [None, "b3"]),
        (None, ["a?", None]),
    ]


def test_layout_is_checked(sweep, tmp_path):
    out = tmp_path / "site" / "r.html"
    with pytest.raises(ConfigError, match="layout 'rows': choose one of auto, columns, grid"):
        write_report(NAME, out, tracking_uri=sweep.uri, layout="rows")
    with pytest.raises(ConfigError, match="layout grid: 2 groups that do not cross two variables"):
        write_report(NAME, out, tracking_uri=sweep.uri, layout="grid")
    assert not out.parent.exists()  # nothing written


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_player_keeps_a_seeds_videos_within_a_frame(report, browser, tmp_path):
    html = report.read_text()
    assert html.count("<script>") == 2 and "<script src" not in html  # inlined: still one file
    page = open_page(browser, report.as_uri())
    assert page.evaluate("VeolabPlayer.players.map(p => p.videos.length)") == [2, 2, 2]
    assert page.locator(".vp-bar").count() == 3
    _wait_settled(page, 0)

    # a seek with the bar's slider, as a click on it: both videos go to the same time
    seek = page.locator(".vp-seek").first
    box = seek.bounding_box()
    assert box is not None
    seek.click(position={"x": box["width"] * 0.375, "y": box["height"] / 2})
    times = _wait_settled(page, 0)
    assert 1.2 < times[0] < 1.8, times
    assert _spread(times) < FRAME, times

    # 3 s of playback from the start: still within a frame
    page.evaluate(f"{_player(0)}.seek(0)")
    _wait_settled(page, 0)
    page.evaluate(_SAMPLE_JS, 0)
    page.locator(".vp-play").first.click()
    at = _wait_playing_past(page, 0, 3.0)
    spreads = page.evaluate("window.__spreads")
    print(
        f"\nplayback: spread at {min(at['times']):.3f} s {1000 * _spread(at['times']):.1f} ms; "
        f"{len(spreads)} frames while playing, max {1000 * max(s for _, s in spreads):.1f} ms, "
        f"{sum(s >= FRAME for _, s in spreads)} at 1/24 s or more "
        f"(at {[round(t, 2) for t, s in spreads if s >= FRAME]} s)"
    )
    assert at["playing"] and not any(at["paused"]), at
    assert _spread(at["times"]) < FRAME, at

    # the space bar pauses the transport last clicked (or it reached the end on a slow
    # machine); the period steps one frame forward, the comma back
    page.keyboard.press(" ")
    page.wait_for_function(f"!{_player(0)}.playing()", timeout=60_000)
    assert _spread(_wait_settled(page, 0)) < FRAME
    page.evaluate(f"{_player(0)}.seek(2.0)")
    paused = _wait_settled(page, 0)
    page.keyboard.press(".")
    page.wait_for_function(f"{_player(0)}.time() > {paused[0] + FRAME / 2}", timeout=60_000)
    stepped = _wait_settled(page, 0)
    frame = int(paused[0] * 24 + 1e-3)
    assert stepped == [pytest.approx((frame + 1.01) / 24, abs=1e-3)] * 2
    page.keyboard.press(",")
    page.keyboard.press(",")
    page.wait_for_function(f"{_player(0)}.time() < {stepped[0] - FRAME * 1.5}", timeout=60_000)
    assert _wait_settled(page, 0) == [pytest.approx((frame - 1 + 0.01) / 24, abs=1e-3)] * 2
    # the other seeds' transports did not move
    assert page.evaluate(f"{_player(1)}.times()") == [0, 0]
    page.close()


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_wipe_overlays_two_videos_with_a_divider(report, browser, tmp_path):
    import cv2

    page = open_page(browser, report.as_uri())
    _wait_settled(page, 0)
    page.evaluate(f"{_player(0)}.seek(2.0)")
    _wait_settled(page, 0)
    page.locator(".vp-wipe-btn").first.click()
    wipe = page.locator(".vp-wipe")
    assert wipe.count() == 1
    assert wipe.locator("video").count() == 2
    assert page.locator(".run .vp-placeholder").count() == 2  # their places in the row
    # drag the divider from the middle to a quarter
    wipe.scroll_into_view_if_needed()
    box = wipe.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, y, steps=5)
    page.mouse.up()
    assert page.evaluate(f"{_player(0)}.split") == pytest.approx(0.25, abs=0.01)
    # both videos fill the same box; the top one (the dark variant) is cut left of the divider
    rects = page.evaluate(
        "[...document.querySelectorAll('.vp-wipe video')].map(v => {"
        " const r = v.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })"
    )
    assert rects[0] == rects[1] and rects[0][2] > 400
    page.wait_for_timeout(300)  # the frame after the clip-path change
    shot = wipe.screenshot(path=tmp_path / "report-wipe.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    keep_screenshot(tmp_path / "report-wipe.png")
    img = cv2.imread(str(tmp_path / "report-wipe.png"), cv2.IMREAD_GRAYSCALE)
    h, w = img.shape
    left = img[h // 4 : 3 * h // 4, int(w * 0.05) : int(w * 0.2)].mean()
    right = img[h // 4 : 3 * h // 4, int(w * 0.6) : int(w * 0.95)].mean()
    # the bright variant's frame left of the divider, the dark one's right of it: both drawn
    assert left > right + 20 and right > 5, (left, right)
    # the space bar plays both inside the wipe view, in sync
    page.keyboard.press(" ")
    at = _wait_playing_past(page, 0, 2.5)
    assert _spread(at["times"]) < FRAME, at
    page.locator(".vp-wipe-btn").first.click()
    assert page.locator(".vp-wipe").count() == 0
    assert page.locator(".run video").count() == 6 and page.locator(".vp-placeholder").count() == 0
    page.close()


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_ab_loop_repeats_between_a_and_b(report, browser):
    page = open_page(browser, report.as_uri())
    bar = page.locator(".vp-bar").nth(1)
    _wait_settled(page, 1)
    page.evaluate(f"{_player(1)}.seek(1.0)")
    _wait_settled(page, 1)
    bar.locator(".vp-a").click()
    page.evaluate(f"{_player(1)}.seek(2.0)")
    _wait_settled(page, 1)
    bar.locator(".vp-b").click()
    assert bar.locator(".vp-ab").text_content() == "1.00–2.00"
    assert bar.locator(".vp-band").is_visible()
    page.evaluate(_SAMPLE_JS, 1)
    bar.locator(".vp-play").click()
    page.wait_for_function(f"{_player(1)}.loops >= 2", timeout=180_000)
    bar.locator(".vp-play").click()  # pause
    spreads = page.evaluate("window.__spreads")
    clock = [t for t, _ in spreads]
    # back to A once B is reached: checked every animation frame, so on a loaded machine
    # (a frame every 30-100 ms) it can run a little past B, never on to the end (4 s)
    assert spreads and min(clock) >= 1.0 - 1e-6 and max(clock) < 2.25, clock
    times = _wait_settled(page, 1)
    assert 1.0 <= times[0] <= 2.0 + FRAME and _spread(times) < FRAME
    bar.locator(".vp-clear").click()
    assert bar.locator(".vp-ab").text_content() == ""
    assert not bar.locator(".vp-band").is_visible()
    page.close()


def _layout_problems(page) -> dict:
    """What a person would call clipped or out of line: a page wider than the window, a run or
    card whose content is wider than itself, cards of a row whose parts (title, prompt,
    metrics) do not line up, runs of a seed whose videos do not line up."""
    return page.evaluate(
        """() => {
      const out = {pageOverflow: document.documentElement.scrollWidth - innerWidth,
                   overflowing: [], misaligned: []};
      for (const el of document.querySelectorAll('.cmp .run, .cmp .card, .vp-bar')) {
        if (el.scrollWidth > el.clientWidth + 1) out.overflowing.push(el.className);
      }
      const cards = {};
      for (const c of document.querySelectorAll('.cmp .card')) {
        const top = Math.round(c.getBoundingClientRect().top);
        (cards[top] = cards[top] || []).push(
          [...c.children].map(e => Math.round(e.getBoundingClientRect().top)).join());
      }
      for (const parts of Object.values(cards)) {
        if (new Set(parts).size > 1) out.misaligned.push(['cards', parts]);
      }
      document.querySelectorAll('.set').forEach((set, i) => {
        const rows = {};
        for (const v of set.querySelectorAll('.run video')) {
          const r = v.getBoundingClientRect();
          const row = v.closest('.run').getBoundingClientRect().top;
          (rows[Math.round(row)] = rows[Math.round(row)] || []).push([r.top, r.height, r.right]);
        }
        for (const vids of Object.values(rows)) {
          const tops = vids.map(x => x[0]), hs = vids.map(x => x[1]);
          if (Math.max(...tops) - Math.min(...tops) > 1 || Math.max(...hs) - Math.min(...hs) > 1)
            out.misaligned.push([i, vids]);
          if (Math.max(...vids.map(x => x[2])) > innerWidth) out.misaligned.push([i, 'cut']);
        }
      });
      return out;
    }"""
    )


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("layout", ["grid", "columns"])
def test_four_groups_are_not_clipped_and_rows_line_up(crossed, browser, tmp_path, layout):
    out = tmp_path / f"report-{layout}.html"
    # the grid is what "auto" makes of two crossed variables
    choice = "auto" if layout == "grid" else layout
    write_report(CROSSED, out, tracking_uri=crossed, log_to_mlflow=False, layout=choice)
    html = out.read_text()
    assert ('class="cmp is-grid"' in html) == (layout == "grid")
    if layout == "grid":
        assert "subject down, lighting across" in html
        assert html.count('<div class="axis row-axis run-span">subject=a grey wolf</div>') == 2
    page = open_page(browser, out.as_uri())
    assert page.evaluate("VeolabPlayer.players.map(p => p.videos.length)") == [4, 4]
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 900})
        problems = _layout_problems(page)
        assert problems == {"pageOverflow": 0, "overflowing": [], "misaligned": []}, width
        # a grid's tiles: two rows of two; columns: one row of four
        tops = page.evaluate(
            "[...document.querySelectorAll('.set')[0].querySelectorAll('.run video')]"
            ".map(v => Math.round(v.getBoundingClientRect().top))"
        )
        assert len(set(tops)) == (2 if layout == "grid" else 1), tops
        shot = screenshot_page(page, tmp_path / f"report-{layout}-{width}.png")
        keep_screenshot(shot)
        page.set_viewport_size({"width": width, "height": 900})
    # linked playback across the four tiles of seed 1
    _wait_settled(page, 0)
    page.locator(".vp-play").first.click()
    at = _wait_playing_past(page, 0, 3.0)
    assert _spread(at["times"]) < FRAME, at
    page.close()


def test_the_report_command_takes_the_layout(sweep, tmp_path):
    from click.testing import CliRunner

    from veolab.cli import cli

    out = tmp_path / "r.html"
    args = ["report", NAME, "-o", str(out), "--tracking-uri", sweep.uri, "--no-log"]
    r = CliRunner().invoke(cli, [*args, "--layout", "grid"])
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: layout grid: 2 groups that do not cross two variables (a grid needs every pair "
        "of their values once, at most 4 across): use the auto or columns layout\n"
    )
    assert not out.exists()
    r = CliRunner().invoke(cli, [*args, "--layout", "columns"])
    assert r.exit_code == 0, r.output
    assert 'class="cmp is-grid"' not in out.read_text()
