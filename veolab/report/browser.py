"""Open a page in headless Chromium and ask it whether its images and videos work.

    >>> with Chromium() as browser:                                   # doctest: +SKIP
    ...     page = browser.open("file:///tmp/report.html")
    ...     state = page.wait_media(min_videos=4)
    ...     page.screenshot("report.png")
    >>> state.broken_images, state.broken_videos                      # doctest: +SKIP
    ([], [])

Drives Debian's ``/usr/bin/chromium`` over the Chrome DevTools Protocol (a websocket on a free
local port; needs the ``websocket-client`` package, in veolab's ``test`` extra). Nothing here
touches the network beyond 127.0.0.1: the browser starts with background networking, component
updates, sync and QUIC off, in a fresh profile directory it deletes on exit.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veolab.errors import ConfigError, VeolabError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

# Every <img> and <video> in the document and in same-origin iframes: loaded or broken.
_MEDIA_JS = r"""
(() => {
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
        const p = v.play();
        if (p && p.catch) p.catch(() => {});
      }
      vids.push({src: v.currentSrc || v.src, readyState: v.readyState,
                 error: v.error ? v.error.code : null,
                 errorMessage: v.error ? (v.error.message || '') : null,
                 currentTime: v.currentTime, duration: v.duration,
                 w: v.videoWidth, h: v.videoHeight});
    }
  }
  return JSON.stringify({imgs, vids, title: document.title,
                         height: document.documentElement.scrollHeight,
                         text: document.body ? document.body.innerText.slice(0, 2000) : ''});
})()
"""


def find_chromium() -> str | None:
    """The Chromium binary: $VEOLAB_CHROMIUM, else a system one, else None."""
    env = os.environ.get("VEOLAB_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for c in CHROMIUM_CANDIDATES:
        if Path(c).is_file():
            return c
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MediaState:
    """What the page shows: every image and video, and which of them are broken."""

    images: list[dict[str, Any]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    text: str = ""
    height: int = 0

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
        """Videos with a decoded frame (readyState >= 2) that have advanced past time 0."""
        return [
            v["src"]
            for v in self.videos
            if v["error"] is None and v["readyState"] >= 2 and v["currentTime"] > 0
        ]

    def settled(self, min_images: int, min_videos: int) -> bool:
        videos_done = all(
            v["error"] is not None or (v["readyState"] >= 2 and v["currentTime"] > 0)
            for v in self.videos
        )
        return (
            len(self.images) >= min_images
            and len(self.videos) >= min_videos
            and not self.pending_images
            and videos_done
        )


class Page:
    """One tab, driven over its DevTools websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict:
        self._id += 1
        mid = self._id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise VeolabError(f"Chromium {method} failed: {msg['error'].get('message')}")
                return msg.get("result", {})
            self.events.append(msg)
        raise VeolabError(f"Chromium did not answer {method} within {timeout:.0f} s")

    def navigate(self, url: str, timeout: float = 30) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
        raise VeolabError(f"{url} did not finish loading within {timeout:.0f} s")

    def evaluate(self, expression: str) -> Any:
        res = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in res:
            raise VeolabError(f"page script failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def media(self) -> MediaState:
        d = json.loads(self.evaluate(_MEDIA_JS))
        return MediaState(d["imgs"], d["vids"], d["title"], d["text"], int(d["height"]))

    def wait_media(
        self,
        min_images: int = 0,
        min_videos: int = 0,
        timeout: float = 30,
        until: str | None = None,
    ) -> MediaState:
        """Poll until every image loaded or broke and every video plays or errs (or timeout).

        ``until``: a JavaScript expression that must also be true (e.g. an element exists).
        """
        deadline = time.monotonic() + timeout
        while True:
            # `until` first, then the snapshot: what made it true is in the state returned
            ready = until is None or bool(self.evaluate(until))
            state = self.media()
            if ready and state.settled(min_images, min_videos):
                return state
            if time.monotonic() >= deadline:
                return state
            time.sleep(0.25)

    def screenshot(self, path: Path | str, width: int = 1400, height: int | None = None) -> Path:
        h = height or max(600, min(self.media().height, 12000))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": h, "deviceScaleFactor": 1, "mobile": False},
        )
        data = self.send("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a dead socket is fine
            pass


class Chromium:
    """A headless Chromium process of our own, on a free local debugging port."""

    def __init__(self, binary: str | None = None, width: int = 1400, height: int = 900) -> None:
        found = binary or find_chromium()
        if not found:
            raise ConfigError(
                "Chromium not found: apt-get install chromium (or set VEOLAB_CHROMIUM)"
            )
        self.binary: str = found
        self.size = (width, height)
        self.proc: subprocess.Popen | None = None
        self.profile: str | None = None
        self.pages: list[Page] = []

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> None:
        import httpx

        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="veolab-chromium-")
        args = [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-file-access-from-files",
            "--remote-allow-origins=*",
            f"--window-size={self.size[0]},{self.size[1]}",
            f"--user-data-dir={self.profile}",
            f"--remote-debugging-port={self.port}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise VeolabError(f"Chromium exited at start with code {self.proc.returncode}")
            try:
                r = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2, trust_env=False)
                if r.status_code == 200 and any(t.get("type") == "page" for t in r.json()):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise VeolabError(f"Chromium did not open its debugging port within {timeout:.0f} s")

    def open(self, url: str, timeout: float = 30) -> Page:
        import httpx

        # a fresh tab each time: a same-document (#hash) navigation fires no load event
        target = httpx.put(
            f"http://127.0.0.1:{self.port}/json/new?about:blank", timeout=5, trust_env=False
        ).json()
        page = Page(target["webSocketDebuggerUrl"])
        self.pages.append(page)
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": self.size[0],
                "height": self.size[1],
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        page.navigate(url, timeout)
        return page

    def stop(self) -> None:
        for p in self.pages:
            p.close()
        self.pages.clear()
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)  # our own session: Chromium and its helpers
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
