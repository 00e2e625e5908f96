"""`veolab report`: a self-contained page with media beside it, checked in headless Chromium."""

from __future__ import annotations

import re
import shutil

import pytest
from browser import needs_chromium, open_page, screenshot_page, wait_media
from helpers import BRIGHT, DARK, NAME, StubAnalysis, invoke

from veolab.tracking.store import Tracker


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    """The report written once for this module, on a copy of the store (it logs an artifact)."""
    out_dir = tmp_path_factory.mktemp("report")
    uri = sweep.isolated(out_dir)
    # a rating, and a (made-up) same-seed rerun measurement, for the badges
    rated = sweep.runs[(DARK, 3)]
    assert invoke("rate", rated, "4", "-n", "moody & <dark>", "--tracking-uri", uri).exit_code == 0
    _fake_rerun(uri, sweep.experiment_id, sweep.runs[(BRIGHT, 1)], repro=0.5)
    r = invoke("report", NAME, "-o", str(out_dir / "site" / "report.html"), "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    return out_dir / "site" / "report.html", uri, r.output


def _fake_rerun(uri: str, exp_id: str, original: str, repro: float) -> None:

    from veolab.request import VideoRequest
    from veolab.tracking.generation import GenerationRecord, log_generation

    tracker = Tracker(uri)
    run = tracker.get_run(original)
    req = VideoRequest(prompt=run.data.params["prompt"], resolution="720p", duration=4, seed=1)
    rec = GenerationRecord(
        req,
        "sim",
        "veo-3.1",
        variant_id=run.data.tags["veolab.variant"],
        variant_label=BRIGHT,
        extra_tags={"veolab.rerun_of": original},
    )
    rid = log_generation(tracker, exp_id, None, rec, b"v", StubAnalysis({}), None)
    tracker.log(rid, metrics={"repro_score": repro})


def test_report_writes_page_and_media(sweep, report):
    path, uri, output = report
    files = path.parent / "report_files"
    assert output == (
        f"Wrote {path} (2 groups, 6 runs, 6 videos) and {files}/\n"
        f"Logged to MLflow sweep run {sweep.parent_id} under report/\n"
    )
    html = path.read_text()
    for rid in sweep.runs.values():
        for name in (
            "video.mp4",
            "contact_sheet.jpg",
            "thumbnails/first.jpg",
            "thumbnails/middle.jpg",
            "thumbnails/last.jpg",
        ):
            assert (files / rid / name).is_file(), (rid, name)
            assert f'"report_files/{rid}/{name}"' in html
    # every media reference is relative and inside the folder: the page works zipped, offline
    refs = re.findall(r'(?:src|href|poster)="([^"]+)"', html)
    assert len(refs) == 6 + 6 * 4 + 6  # videos, sheets and stills, posters
    assert all(ref.startswith("report_files/") for ref in refs)
    assert "http://" not in html and "https://" not in html
    # the player is inlined (test_report_player.py): no script from elsewhere
    assert html.count("<script>") == 2 and "<script src" not in html
    # the dark variant's prompt shows what changed from the baseline
    assert (
        "a red fox walking along a blue shoreline, <del>bright sunny morning light,</del>"
        "<ins>dark moonlit night,</ins> gentle waves"
    ) in html
    assert html.count('class="card baseline"') == 1
    assert f"<h3>{BRIGHT}</h3>" in html and f"<h3>{DARK}</h3>" in html
    assert "brightness_mean lower" in html
    # the rating (escaped), the reproducibility, and the two new metrics in the table
    assert '<span class="badge">score 4.0/5</span>' in html
    assert "“moody &amp; &lt;dark&gt;”" in html
    assert '<span class="badge">repro 0.500</span>' in html
    assert "<th>human_score</th>" in html and "<th>repro_score</th>" in html
    # and MLflow keeps a copy with the sweep
    tracker = Tracker(uri)
    arts = {f.path for f in tracker.client.list_artifacts(sweep.parent_id, "report")}
    assert arts == {"report/report.html", "report/report_files"}


def test_report_refuses_to_replace_a_foreign_folder(sweep, tmp_path):
    (tmp_path / "mine_files").mkdir()
    (tmp_path / "mine_files" / "notes.txt").write_text("keep me")
    r = invoke(
        "report", NAME, "-o", str(tmp_path / "mine.html"), "--no-log", "--tracking-uri", sweep.uri
    )
    assert r.exit_code == 2
    assert r.output == (
        f"Error: {tmp_path / 'mine_files'} exists and is not a veolab report "
        "folder: choose another -o name or move the folder\n"
    )
    assert (tmp_path / "mine_files" / "notes.txt").read_text() == "keep me"
    r = invoke("report", NAME, "-o", str(tmp_path / "mine.txt"), "--tracking-uri", sweep.uri)
    assert r.exit_code == 2
    assert "the report is HTML, give a name ending in .html" in r.output


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_report_in_a_real_browser(sweep, report, browser, tmp_path):
    path, _, _ = report
    site = tmp_path / "zipped"
    shutil.copytree(path.parent, site)  # moved elsewhere, as a zipped folder would be
    page_url = (site / "report.html").as_uri()
    page = open_page(browser, page_url)
    state = wait_media(page, min_images=24, min_videos=6)
    shot = screenshot_page(page, tmp_path / "report.png")
    page.close()
    assert state.title == f"{NAME}: 2 variants compared"
    assert len(state.images) == 24 and state.broken_images == [] and state.pending_images == []
    assert all(i["w"] > 0 and i["h"] > 0 for i in state.images)
    assert len(state.videos) == 6 and state.broken_videos == []
    assert len(state.playing_videos) == 6
    assert all(v["w"] == 1280 and v["h"] == 720 and v["duration"] == 4 for v in state.videos)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000

    # the check does catch broken media: remove one video and one still
    rid = sweep.runs[(DARK, 1)]
    (site / "report_files" / rid / "video.mp4").unlink()
    (site / "report_files" / rid / "thumbnails" / "last.jpg").unlink()
    page = open_page(browser, page_url)
    state = wait_media(page, min_images=24, min_videos=6)
    assert state.broken_videos == [(site / "report_files" / rid / "video.mp4").as_uri()]
    assert state.broken_images == [
        (site / "report_files" / rid / "thumbnails" / "last.jpg").as_uri()
    ]
