"""Prompts, traces and human feedback in MLflow's own UI (3.17), as docs/mlflow.md shows them.

A copy of the shared sweep's store gets what a review adds: a second version of its template (the
template edited and planned again, registered as a sweep registers it), a rating by ``ana`` and a
pairwise vote by ``ben``, synced as ``veolab ui`` syncs them; then ``mlflow server`` serves it and
headless Chromium looks at it as a reviewer would:

- the Prompts page lists ``veolab.scene`` at version 2; its page lists both versions, shows each
  one's text and the diff between them; a run's page names its prompt version, and the documented
  filter ``tags.`veolab.prompt` = ...`` finds the runs of a version;
- a generation's Traces tab shows its trace, with the rating and the vote as columns; the trace
  shows the pipeline's spans, ``veolab.cost_usd`` among the root span's attributes, and the
  feedback ``human_score`` 4 from ``ana`` and ``pairwise`` win from ``ben`` with their notes;
- the experiment's own Prompts page lists ``veolab.scene`` and its Traces view lists, for
  version 1, the six generations' traces the sweep linked to it, and none for version 2.

What the page shows is checked against what MLflow's API returns for the same store. MLflow 3.17's
UI lists no runs for a prompt version (it reads a version tag its own client does not write), so
"every run of version 1" is checked through ``search_runs`` as well as in the runs table.
Screenshots are kept for a person (tests/browser.py: keep_screenshot).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from browser import keep_screenshot, needs_chromium, open_page
from helpers import BRIGHT, DARK, NAME, TEMPLATE

from veolab.tracking import schema as S

# the template as edited after the sweep: version 2 of veolab.scene
TEMPLATE_V2 = TEMPLATE.replace("walking", "trotting").replace("shoreline,", "shoreline at dusk,")
NOTE_ANA = "crisp fur, calm water"
NOTE_BEN = "the dark one is too murky"
PROMPT_V1 = "prompts:/veolab.scene/1"


@dataclass
class Reviewed:
    uri: str
    experiment_id: str
    rated: str  # the run ana rated and ben voted for (bright s2)
    other: str  # the run it was compared with (dark s2)
    runs: dict[tuple[str, int], str]
    parent_id: str


@pytest.fixture(scope="module")
def reviewed(sweep, tmp_path_factory) -> Reviewed:
    """The sweep's store, copied, with a second prompt version, a rating and a vote."""
    from veolab.cli.ui import _sync_feedback
    from veolab.experiment import load_experiment
    from veolab.review.votes import ServedPair, VoteStore
    from veolab.runner import plan_experiment
    from veolab.tracking.prompts import register_templates
    from veolab.tracking.rating import rate
    from veolab.tracking.store import Tracker

    tmp = tmp_path_factory.mktemp("genai-ui")
    uri = sweep.isolated(tmp)
    rated, other = sweep.runs[(BRIGHT, 2)], sweep.runs[(DARK, 2)]
    project = tmp / "project"
    project.mkdir()
    shutil.copytree(sweep.root / "prompts", project / "prompts")
    shutil.copyfile(sweep.root / "exp.yaml", project / "exp.yaml")
    (project / "prompts" / "scene.j2").write_text(TEMPLATE_V2)
    env = {"VEOLAB_HOME": str(tmp / "home"), "MLFLOW_TRACKING_URI": uri}
    with mock.patch.dict(os.environ, env):
        tracker = Tracker(uri)
        plan = plan_experiment(load_experiment(project / "exp.yaml"))
        used = {(r.template, r.template_sha256): r.template_files for r in plan.runs}
        warnings: list[str] = []
        versions = register_templates(
            tracker, [(t, sha, files) for (t, sha), files in used.items()], NAME, warnings
        )
        assert warnings == [] and [v.version for v in versions.values()] == [2]
        rate(rated, 4, note=NOTE_ANA, tracker=tracker, reviewer="ana")
        votes = VoteStore()
        try:
            pair = ServedPair.new(NAME, "ben", "variant", (rated, BRIGHT), (other, DARK))
            votes.serve(pair)
            votes.vote(pair.id, "ben", "left", note=NOTE_BEN)
        finally:
            votes.close()
        _sync_feedback(tracker, NAME)  # what `veolab ui` does before it serves
    import mlflow

    mlflow.set_tracking_uri(None)  # the feedback set MLflow's global store: leave none behind
    return Reviewed(uri, sweep.experiment_id, rated, other, dict(sweep.runs), sweep.parent_id)


@pytest.fixture(scope="module")
def ui(reviewed, mlflow_ui) -> str:
    return mlflow_ui(reviewed.uri)


def _tracker(reviewed: Reviewed):
    from veolab.tracking.store import Tracker

    return Tracker(reviewed.uri)


def _close_assistant(page) -> None:
    """Close MLflow's assistant panel, which opens beside some pages and covers a third of them."""
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count() and close.first.is_visible():
        close.first.click()


def _shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=tmp_path / name)
    keep_screenshot(tmp_path / name)


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_the_prompts_page_lists_the_template_with_its_versions_and_their_diff(
    reviewed, ui, browser, tmp_path
):
    versions = _tracker(reviewed).client.search_prompt_versions("veolab.scene")
    texts = {int(v.version): v.template for v in versions}
    assert texts == {1: TEMPLATE, 2: TEMPLATE_V2}  # the API's view, which the page must show

    page = open_page(browser, f"{ui}/#/prompts", timeout=120)
    row = page.locator("tr, [role=row]").filter(has=page.get_by_text("veolab.scene", exact=True))
    row.first.wait_for(timeout=120_000)
    _close_assistant(page)
    assert "Version 2" in row.first.inner_text()  # the latest version, in the Prompts list
    _shot(page, tmp_path, "mlflow-prompts.png")

    page.get_by_role("link", name="veolab.scene", exact=True).click()
    page.get_by_text("Viewing version 2", exact=True).wait_for(timeout=60_000)
    _close_assistant(page)
    # the versions, newest first
    assert page.get_by_text("Version 2", exact=True).is_visible()
    assert page.get_by_text("Version 1", exact=True).is_visible()
    page.get_by_text("Text", exact=True).first.click()  # the text as registered, not as Markdown
    page.get_by_text(TEMPLATE_V2.strip(), exact=True).wait_for(timeout=30_000)
    assert page.get_by_text("veolab: scene.j2 (sha256", exact=False).first.is_visible()

    page.get_by_text("Version 1", exact=True).click()
    page.get_by_text("Viewing version 1", exact=True).wait_for(timeout=60_000)
    page.get_by_text(TEMPLATE.strip(), exact=True).wait_for(timeout=30_000)

    page.get_by_text("Compare", exact=True).click()
    page.get_by_text("Comparing version 1 with version 2").wait_for(timeout=60_000)
    text_mode = page.get_by_text("Text", exact=True)
    if text_mode.count():
        text_mode.first.click()
    # the diff: the removed word struck through, the added words marked
    removed = page.get_by_text("walking", exact=True).last
    added = page.get_by_text("trotting", exact=True).last
    removed.wait_for(timeout=30_000)
    style = "e => [getComputedStyle(e).textDecorationLine, getComputedStyle(e).backgroundColor]"
    assert "line-through" in removed.evaluate(style)[0]
    assert added.evaluate(style)[1] not in ("", "rgba(0, 0, 0, 0)", "transparent")
    _shot(page, tmp_path, "mlflow-prompt-diff.png")
    page.close()


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_a_run_names_its_prompt_version_and_the_filter_finds_the_runs_of_a_version(
    reviewed, ui, browser, tmp_path
):
    flt = f"tags.`{S.PROMPT}` = '{PROMPT_V1}'"
    found = {r.info.run_id for r in _tracker(reviewed).search(reviewed.experiment_id, flt)}
    # MLflow 3.17's prompt page lists no runs: the filter is the way, here through the API ...
    assert found == set(reviewed.runs.values()) | {reviewed.parent_id}

    runs_page = f"#/experiments/{reviewed.experiment_id}/runs"
    page = open_page(
        browser, f"{ui}/{runs_page}/{reviewed.rated}?workflowType=machine_learning", timeout=120
    )
    page.get_by_text("Registered prompts", exact=True).wait_for(timeout=120_000)
    link = page.get_by_role("link", name="veolab.scene (v1)", exact=True)
    link.wait_for(timeout=60_000)  # the section's title can come before its links
    assert link.get_attribute("href") == "#/prompts/veolab.scene"
    page.close()

    # ... and in the runs table, as a reviewer types it
    page = open_page(browser, f"{ui}/{runs_page}?workflowType=machine_learning", timeout=120)
    page.get_by_text("Run Name", exact=True).first.wait_for(timeout=120_000)
    _close_assistant(page)
    search = page.locator("input[placeholder*='metrics.rmse']")
    search.fill(flt)
    search.press("Enter")
    page.get_by_text(f"{len(found)} matching runs").wait_for(timeout=60_000)
    page.close()


# the spans of the trace drawer, in the order it lists them: each title row's first line (the
# root's row adds the number of its assessments)
_SPAN_NAMES = "es => es.map(e => e.innerText.trim().split('\\n'))"


# the trace drawer's button that opens the assessments pane, and a feedback's expand toggle
_ASSESSMENTS = "[data-component-id='shared.model-trace-explorer.assessments-pane-toggle']"
_EXPAND_ONE = "[data-component-id='shared.model-trace-explorer.toggle-assessment-expanded']"


def _pairs(text: str) -> dict[str, str]:
    """An attributes panel's text (a name line, then its value line) as a dict."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return {k: v for k, v in zip(lines, lines[1:], strict=False) if k.startswith("veolab.")}


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_the_traces_tab_shows_the_spans_the_cost_and_the_feedback(reviewed, ui, browser, tmp_path):
    tracker = _tracker(reviewed)
    trace_id = tracker.get_run(reviewed.rated).data.tags[S.TRACE_ID]
    trace = tracker.client.get_trace(trace_id)
    api_spans = [s.name for s in trace.data.spans]
    assert api_spans[0] == "generation"
    assert {"claim", "generate", "analyse", "log"} <= set(api_spans)
    cost = trace.data.spans[0].attributes["veolab.cost_usd"]
    feedback = {(a.name, a.source.source_id): a for a in trace.info.assessments}
    assert set(feedback) == {("human_score", "ana"), ("pairwise", "ben")}
    assert str(feedback["human_score", "ana"].source.source_type) == "HUMAN"

    run_page = f"#/experiments/{reviewed.experiment_id}/runs/{reviewed.rated}"
    page = open_page(browser, f"{ui}/{run_page}/traces?workflowType=machine_learning", timeout=120)
    row = page.locator("[role=row], tr").filter(has=page.get_by_text(trace_id[:8], exact=False))
    row.last.wait_for(timeout=120_000)
    _close_assistant(page)
    # one trace, its rating and its vote as columns
    cells = [c.strip() for c in row.last.inner_text().splitlines() if c.strip()]
    assert "4" in cells and "win" in cells and "OK" in cells, cells
    assert page.get_by_text("human_score", exact=True).first.is_visible()
    assert page.get_by_text("pairwise", exact=True).first.is_visible()
    _shot(page, tmp_path, "mlflow-run-traces.png")

    page.get_by_text(trace_id[:8], exact=False).first.click()
    spans = page.locator("[data-testid^=span-title-row-]")
    spans.first.wait_for(timeout=60_000)
    _close_assistant(page)
    # every span of the trace, in the API's order (the root first, then the stages by time)
    rows = spans.evaluate_all(_SPAN_NAMES)
    assert [r[0] for r in rows] == api_spans
    assert rows[0][1:] == ["2"]  # the root's badge: two assessments

    page.get_by_role("tab", name="Attributes").click()
    panel = page.get_by_role("tabpanel").filter(has=page.get_by_text("veolab.cost_usd"))
    panel.wait_for(timeout=30_000)
    attrs = _pairs(panel.inner_text())
    assert attrs["veolab.cost_usd"] == f"{cost:g}"  # 0 on the simulator
    assert attrs["veolab.host"] == "sim" and attrs["veolab.prompt"] == PROMPT_V1
    assert attrs["veolab.seed"] == "2"

    page.locator(_ASSESSMENTS).click()
    page.get_by_text("Feedback (2)", exact=True).wait_for(timeout=30_000)
    toggles = page.locator(_EXPAND_ONE)
    for i in range(toggles.count()):
        toggles.nth(i).click()
    _close_assistant(page)

    def card(name: str) -> str:
        # the innermost block that holds the feedback's name and its toggle: its card
        found = page.locator("div").filter(has=page.get_by_text(name, exact=True))
        return found.filter(has=toggles).last.inner_text()

    rating = card("human_score")
    page.get_by_text(NOTE_ANA, exact=True).wait_for(timeout=30_000)
    assert "ana" in rating.splitlines() and "4" in rating.splitlines() and NOTE_ANA in rating
    vote = card("pairwise")
    assert "ben" in vote.splitlines() and "win" in vote.splitlines() and NOTE_BEN in vote
    _shot(page, tmp_path, "mlflow-trace.png")
    page.close()


# the prompt page's Preview / Compare / Traces switch
_MODE = "[data-component-id='mlflow.prompts.details.mode']"


@pytest.mark.slow
@needs_chromium
@pytest.mark.browser
def test_the_experiments_prompts_page_lists_the_traces_of_a_version(
    reviewed, ui, browser, tmp_path
):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tracker = _tracker(reviewed)
    exp = reviewed.experiment_id
    # the sweep listed its prompt on its experiment and linked each generation's trace to v1
    assert f",{exp}," in tracker.client.get_prompt("veolab.scene").tags["_mlflow_experiment_ids"]

    def linked(version: int) -> set[str]:
        flt = f"prompt = 'veolab.scene/{version}'"
        found = tracker.client.search_traces(locations=[exp], filter_string=flt)
        return {t.info.trace_id for t in found}

    v1 = linked(1)
    assert v1 == {tracker.get_run(r).data.tags[S.TRACE_ID] for r in reviewed.runs.values()}
    assert len(v1) == 6 and linked(2) == set()  # version 2 was registered, never generated

    page = open_page(browser, f"{ui}/#/experiments/{exp}/prompts", timeout=120)
    link = page.get_by_role("link", name="veolab.scene", exact=True)
    link.wait_for(timeout=120_000)
    _close_assistant(page)
    assert link.get_attribute("href") == f"#/experiments/{exp}/prompts/veolab.scene"
    link.click()
    page.get_by_text("Viewing version 2", exact=True).wait_for(timeout=60_000)
    _close_assistant(page)
    page.locator(_MODE).get_by_text("Traces", exact=True).click()
    got_it = page.get_by_role("button", name="Got it")  # a one-time tip over the traces table
    with contextlib.suppress(PlaywrightTimeout):
        got_it.wait_for(timeout=15_000)
        got_it.click()
    # version 2 (the one it opens on) has none of the experiment's traces
    page.get_by_text("No traces found", exact=False).wait_for(timeout=60_000)
    assert page.get_by_text(f"0 of {len(v1)}", exact=True).is_visible()

    page.get_by_text("Version 1", exact=True).click()
    page.get_by_text(f"{len(v1)} of {len(v1)}", exact=True).wait_for(timeout=60_000)
    rows = page.locator("[role=row], tr").filter(has_text="tr-")
    rows.nth(len(v1) - 1).wait_for(timeout=60_000)
    shown = {r.split()[0] for r in rows.all_inner_texts()}
    assert shown == v1
    # the rated generation's row carries ana's rating and ben's vote
    rated = tracker.get_run(reviewed.rated).data.tags[S.TRACE_ID]
    cells = rows.filter(has_text=rated).inner_text().splitlines()
    assert "4" in [c.strip() for c in cells] and "win" in [c.strip() for c in cells], cells
    _shot(page, tmp_path, "mlflow-prompt-traces.png")
    page.close()
