"""The review page (veolab/review/static/) in headless Chromium against a real review server.

The server (review/serve.py) runs in a thread on 127.0.0.1 over the shared simulator sweep
(2 lighting variants x 3 seeds), with a token, so the page must carry it on every request; the
votes go to a real ledger under tmp_path. A reviewer whose name is HTML gives it on the first
page, watches a pair in the synchronized player, votes with the arrow keys (one with a note),
and the votes land in the store and in GET /api/ranking; names and notes show as text.
Screenshots of the page are kept (tests/browser.py: keep_screenshot).
"""

from __future__ import annotations

import random

import httpx
import pytest
from browser import VIEWPORT, keep_screenshot, needs_chromium, open_page, screenshot_page
from helpers import BRIGHT, DARK, NAME

from veolab.compare.runs import load_runs
from veolab.review.serve import serve_in_thread
from veolab.review.session import ReviewSession
from veolab.review.votes import VoteStore
from veolab.tracking.store import existing_store

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_chromium]

FRAME = 1 / 24
TOKEN = "tok-3n"
REVIEWER = "<b>ann</b> & co"
NOTE = "<i>left</i> & the <script>x</script> right"


@pytest.fixture
def session(sweep):
    tracker = existing_store(sweep.uri)
    s = ReviewSession(load_runs(NAME, tracker=tracker), tracker=tracker, rng=random.Random(7))
    yield s
    s.close()


def _state(page) -> dict:
    return page.evaluate("veolabReview.state()")


def _wait_pair(page, previous: str | None = None) -> str:
    """Wait for a pair other than ``previous`` whose two videos have a frame; its id."""
    page.wait_for_function(
        """(previous) => { const s = veolabReview.state();
            return s.pair && s.pair !== previous && !s.busy &&
              VeolabPlayer.players[0].videos.every(v => v.readyState >= 2 && !v.seeking); }""",
        arg=previous,
        timeout=120_000,
    )
    return _state(page)["pair"]


def _shown_groups(page) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('.side .group')].map(g => g.hidden ? '' : g.textContent)"
    )


def test_votes_by_keyboard_land_in_the_store_and_the_ranking(session, browser, tmp_path):
    with serve_in_thread(session, token=TOKEN) as server:
        assert server.url.endswith(f"/?token={TOKEN}")
        page = open_page(browser, server.url)
        # first page: the name (nothing stored in this browser yet)
        page.wait_for_selector("#name-form:not([hidden])", timeout=60_000)
        page.fill("#name-input", REVIEWER)
        page.keyboard.press("Enter")
        first = _wait_pair(page)
        assert page.locator("#reviewer").text_content() == REVIEWER  # as text, not markup
        assert page.locator("#reviewer b").count() == 0
        # blind: no group anywhere on the page before the vote
        body = page.inner_text("body")
        assert BRIGHT not in body and DARK not in body and "lighting=" not in body
        assert _shown_groups(page) == ["", ""]

        # space plays both; after a second of playback they are within a frame
        page.keyboard.press(" ")
        at = page.wait_for_function(
            """() => { const p = VeolabPlayer.players[0];
                return p.time() >= 1.0 && {times: p.times(), playing: p.playing()}; }""",
            timeout=120_000,
        ).json_value()
        assert at["playing"] and max(at["times"]) - min(at["times"]) < FRAME, at
        page.keyboard.press(" ")
        page.wait_for_function("!VeolabPlayer.players[0].playing()")
        keep_screenshot(screenshot_page(page, tmp_path / "review-pair.png"))

        # votes: left (arrow), then a tie with a note, both bad, right
        pairs, choices = [first], ["left", "tie", "both_bad", "right"]
        page.set_viewport_size(VIEWPORT)
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("document.querySelector('.side .group:not([hidden])')")
        revealed = _shown_groups(page)
        assert sorted(revealed) == sorted([BRIGHT, DARK]), revealed
        assert page.locator(".side.chosen #video-left").count() == 1
        keep_screenshot(screenshot_page(page, tmp_path / "review-revealed.png"))
        page.set_viewport_size(VIEWPORT)
        pairs.append(_wait_pair(page, pairs[-1]))
        assert _shown_groups(page) == ["", ""]  # hidden again for the next pair

        page.fill("#note", NOTE)
        page.keyboard.press("ArrowDown")  # typing a note: the arrow moves the caret, no vote
        assert _state(page)["busy"] is False and _state(page)["pair"] == pairs[-1]
        page.keyboard.press("Escape")  # leaves the note
        page.keyboard.press("ArrowDown")
        pairs.append(_wait_pair(page, pairs[-1]))
        assert page.locator("#note").input_value() == ""
        page.keyboard.press("ArrowUp")
        pairs.append(_wait_pair(page, pairs[-1]))
        page.keyboard.press("ArrowRight")
        pairs.append(_wait_pair(page, pairs[-1]))
        assert page.locator("#last").text_content().startswith("Saved: right better. Left was ")

        # in the store: four votes, in order, on the pairs shown, the note as typed
        store = VoteStore()
        try:
            votes = store.votes(NAME)
        finally:
            store.close()
        assert [(v.pair_id, v.reviewer, v.choice) for v in votes] == [
            (p, REVIEWER, c) for p, c in zip(pairs, choices, strict=False)
        ]
        assert [v.note for v in votes] == [None, NOTE, None, None]
        ranking = httpx.get(server.base_url + "api/ranking", params={"token": TOKEN}).json()
        assert ranking["votes"] == 4
        assert ranking["reviewers"] == [{"reviewer": REVIEWER, "votes": 4}]
        assert page.locator("#progress").text_content().startswith("4 votes by you · 3 of 3")

        # the ranking view: both groups, the reviewer's name as text
        page.click("#tab-ranking")
        page.wait_for_function(
            "document.querySelectorAll('#ranking-table tbody tr').length === 2", timeout=120_000
        )
        names = page.locator("#ranking-table td.name").all_text_contents()
        assert sorted(names) == sorted([BRIGHT, DARK])
        assert page.locator("#reviewers li").all_text_contents() == [f"{REVIEWER}: 4 votes"]
        assert page.locator("#reviewers b").count() == 0
        keep_screenshot(screenshot_page(page, tmp_path / "review-ranking.png"))
        # arrows do not vote from the ranking view
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(500)
        store = VoteStore()
        try:
            assert len(store.votes(NAME)) == 4
        finally:
            store.close()
        page.close()


def test_a_narrow_window_and_the_stored_name(session, browser, tmp_path):
    """At 900 px the pair, transport and buttons fit without a horizontal scroll; a reload
    remembers the name (localStorage) and shows the pair served before it."""
    with serve_in_thread(session, token=TOKEN) as server:
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto(server.url, wait_until="load")
        page.wait_for_selector("#name-form:not([hidden])", timeout=60_000)
        page.fill("#name-input", "bo")
        page.click("button.primary")
        shown = _wait_pair(page)
        wide = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert wide == 0
        boxes = [page.locator(s).bounding_box() for s in ("#video-left", "#video-right")]
        assert all(b is not None for b in boxes)
        left, right = boxes[0], boxes[1]
        assert left and right and left["y"] == right["y"] and left["width"] == right["width"]
        assert right["x"] + right["width"] <= 900
        keep_screenshot(screenshot_page(page, tmp_path / "review-pair-900.png"))
        page.reload(wait_until="load")
        assert _wait_pair(page) == shown
        assert page.locator("#reviewer").text_content() == "bo"
        # the wipe view (w) overlays the two where the stage was
        page.keyboard.press("w")
        page.wait_for_selector(".vp-wipe video >> nth=1")
        assert page.locator("#stage").is_hidden()
        keep_screenshot(screenshot_page(page, tmp_path / "review-wipe-900.png"))
        page.close()


def test_no_pair_to_show_says_why(sweep, browser):
    """Grouped by a key with one value there is nothing to compare: the page says what the API
    said, and offers no buttons to vote with."""
    tracker = existing_store(sweep.uri)
    s = ReviewSession(load_runs(NAME, tracker=tracker), by="var.subject", tracker=tracker)
    try:
        with serve_in_thread(s, reviewer="cy") as server:
            page = open_page(browser, server.url)
            page.wait_for_selector("#message:not([hidden])", timeout=60_000)
            text = page.locator("#message").text_content()
            assert "a review needs two" in text, text
            assert page.locator("#stage").is_hidden()
            assert page.locator("#reviewer").text_content() == "cy"  # from --reviewer
            assert page.locator("#change-name").is_hidden()
            page.close()
    finally:
        s.close()
