"""Headless Chromium for the browser tests: Playwright's sync API driving Debian's own chromium.

    @needs_chromium
    @pytest.mark.browser
    def test_page(browser):                     # the fixture in conftest.py
        page = open_page(browser, "file:///abs/path/report.html")
        state = wait_media(page, min_images=24, min_videos=6)
        assert state.broken_images == [] and len(state.playing_videos) == 6

The browser is the system one (``apt-get install chromium``; ``.ci/run`` installs it as root),
launched by path: Playwright's own browser builds are never downloaded (no ``playwright
install``). The ``playwright`` wheel from the ``test`` extra carries the driver it needs.
Without a chromium binary the tests skip with a reason. Nothing goes beyond 127.0.0.1:
background networking, component updates, sync and QUIC are off, in a throwaway profile.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize


def find_chromium() -> str | None:
    """Debian's chromium: on PATH, else /usr/bin/chromium, else None."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


CHROMIUM = find_chromium()
NO_CHROMIUM = "no chromium binary (apt-get install chromium; .ci/run installs it when run as root)"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}


@contextmanager
def launch_chromium(executable: str | None = None) -> Iterator[Browser]:
    """A headless Chromium of our own, closed (with Playwright's driver) however the block ends."""
    from playwright.sync_api import sync_playwright

    path = executable or CHROMIUM
    if path is None:
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as pw:
        # a generous launch timeout: Chromium's start takes seconds on a loaded machine
        browser = pw.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS, timeout=120_000
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, url: str, timeout: float = 60) -> Page:
    """A fresh page (its own context) at ``url``, once its load event has fired."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url, wait_until="load", timeout=timeout * 1000)
    return page


# Every <img> and <video> in the document and in same-origin iframes: loaded or broken. Each
# video is started once (muted, so no user gesture is needed) to prove that it plays, and is
# "presented" once a decoded frame reached the compositor (requestVideoFrameCallback): until
# then a screenshot of a loaded machine can show the video black.
_MEDIA_JS = r"""
() => {
  const docs = [document];
  for (const f of document.querySelectorAll('iframe')) {
    try { if (f.contentDocument) docs.push(f.contentDocument); } catch (e) {}
  }
  const imgs = [], vids = [];
  for (const d of docs) {
    for (const i of d.querySelectorAll('img')) {
      imgs.push({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth,
                 h: i.naturalHeight});
    }
    for (const v of d.querySelectorAll('video')) {
      if (!v.dataset.veolabPlayed) {
        v.dataset.veolabPlayed = '1';
        v.muted = true;
        v.requestVideoFrameCallback(() => { v.dataset.veolabPresented = '1'; });
        const p = v.play();
        if (p && p.catch) p.catch(() => {});
      }
      vids.push({src: v.currentSrc || v.src, readyState: v.readyState,
                 error: v.error ? v.error.code : null,
                 errorMessage: v.error ? (v.error.message || '') : null,
                 currentTime: v.currentTime, duration: v.duration,
                 presented: v.dataset.veolabPresented === '1',
                 w: v.videoWidth, h: v.videoHeight});
    }
  }
  return {imgs, vids, title: document.title};
}
"""


@dataclass
class MediaState:
    """What the page shows: every image and video, and which of them are broken."""

    images: list[dict[str, Any]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""

    @property
    def broken_images(self) -> list[str]:
        return [i["src"] for i in self.images if i["complete"] and not i["w"]]

    @property
    def pending_images(self) -> list[str]:
        return [i["src"] for i in self.images if not i["complete"]]

    @property
    def broken_videos(self) -> list[str]:
        return [v["src"] for v in self.videos if v["error"] is not None]

    @property
    def playing_videos(self) -> list[str]:
        """Videos with a decoded frame (readyState >= 2) that have advanced past time 0 and
        have shown a frame."""
        return [v["src"] for v in self.videos if _plays(v)]

    def settled(self, min_images: int, min_videos: int) -> bool:
        videos_done = all(v["error"] is not None or _plays(v) for v in self.videos)
        return (
            len(self.images) >= min_images
            and len(self.videos) >= min_videos
            and not self.pending_images
            and videos_done
        )


# Resolves once every playing video has presented a frame again (or after 5 s: a video that
# stalls must not hang the screenshot; paused, ended and broken ones keep what they show).
_NEXT_FRAMES_JS = r"""
async () => {
  const playing = [...document.querySelectorAll('video')].filter(v => !v.error && !v.paused);
  await Promise.all(playing.map(v => new Promise(done => {
    v.requestVideoFrameCallback(() => done());
    setTimeout(done, 5000);
  })));
}
"""


def screenshot_page(page: Page, path: Path, max_height: int = 12_000) -> Path:
    """A PNG of the whole page (up to ``max_height`` pixels) at the page's width, each video
    showing a frame.

    The viewport is made as tall as the page first. Playwright's ``full_page=True`` captures
    beyond the viewport instead, and on a loaded machine that showed a playing video black now
    and then (1 to 5 of 6 videos in 2 of 6 shots at load 15; a tall viewport: 0 in 12).
    """
    width = (page.viewport_size or VIEWPORT)["width"]
    height = min(int(page.evaluate("document.documentElement.scrollHeight")), max_height)
    page.set_viewport_size({"width": width, "height": max(height, VIEWPORT["height"])})
    page.evaluate(_NEXT_FRAMES_JS)
    page.screenshot(path=path)
    return path


SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def keep_screenshot(path: Path) -> Path:
    """Copy a screenshot where the test run keeps it for a person to look at: the folder
    ``$VEOLAB_SCREENSHOTS`` names, else ``artifacts/screenshots/`` of the checkout (ignored by
    git); tmp_path goes with the test. Returns the copy."""
    folder = Path(os.environ.get("VEOLAB_SCREENSHOTS") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(path, folder / path.name))


def _plays(v: dict[str, Any]) -> bool:
    return v["error"] is None and v["readyState"] >= 2 and v["currentTime"] > 0 and v["presented"]


def media(page: Page) -> MediaState:
    d = page.evaluate(_MEDIA_JS)
    return MediaState(d["imgs"], d["vids"], d["title"])


def wait_media(
    page: Page,
    min_images: int = 0,
    min_videos: int = 0,
    timeout: float = 60,
    until: str | None = None,
) -> MediaState:
    """Poll until every image loaded or broke and every video plays or errs, or ``timeout``
    passed; return the last state either way (the test's assertions say what was wrong).

    ``until``: a JavaScript expression that must also be true (e.g. an element exists). The
    timeout is wide because it costs nothing on a quiet machine: the wait ends when settled.
    """
    deadline = time.monotonic() + timeout
    while True:
        # `until` first, then the snapshot: what made it true is in the state returned
        ready = until is None or bool(page.evaluate(until))
        state = media(page)
        if ready and state.settled(min_images, min_videos):
            return state
        if time.monotonic() >= deadline:
            return state
        page.wait_for_timeout(250)
