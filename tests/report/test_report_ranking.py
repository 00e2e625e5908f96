"""The report's ranking section: the review's votes (veolab review) on the shared sweep, cast
through ReviewSession into a real ledger under tmp_path, ranked in the page; none without votes."""

from __future__ import annotations

import random
import re

import pytest
from helpers import BRIGHT, DARK, NAME

from veolab.compare.runs import load_runs
from veolab.report import write_report
from veolab.review.session import ReviewSession
from veolab.tracking.store import existing_store


def _vote(session: ReviewSession, reviewer: str, prefer: str, n: int) -> None:
    """``n`` votes by ``reviewer`` for the side showing ``prefer`` (the group is read back
    from the vote's answer: sides are random)."""
    for _ in range(n):
        pair = session.next_pair(reviewer)
        left = session.group_of[pair["left"]["run_id"]]
        session.vote(pair["pair"], reviewer, "left" if left == prefer else "right")


@pytest.mark.slow  # 6 s: two reports, a ledger, the ranking's bootstrap
def test_the_report_ranks_the_groups_when_there_are_votes(sweep, tmp_path):
    out = tmp_path / "r.html"
    write_report(NAME, out, tracking_uri=sweep.uri, log_to_mlflow=False)
    assert 'id="ranking"' not in out.read_text()  # no votes, no section

    tracker = existing_store(sweep.uri)
    session = ReviewSession(load_runs(NAME, tracker=tracker), tracker=tracker, rng=random.Random(3))
    try:
        _vote(session, "<ann>", DARK, 3)
        _vote(session, "bo", DARK, 3)
        pair = session.next_pair("bo")
        session.vote(pair["pair"], "bo", "both_bad")
    finally:
        session.close()
    write_report(NAME, out, tracking_uri=sweep.uri, log_to_mlflow=False)
    html = out.read_text()
    section = html[html.index('<section id="ranking">') : html.index('<section id="variants">')]
    assert "7 votes in <code>veolab review</code>" in section
    rows = section.split("<tbody>")[1].split("</tbody>")[0]
    # the dark variant won all six compared votes: first, above the bright one
    assert rows.index(f"<td>{DARK}</td>") < rows.index(f"<td>{BRIGHT}</td>")
    assert (
        '<td class="num">6</td>\n        <td class="num">0</td><td class="num">0</td>\n'
        '        <td class="num">1</td><td class="num">7</td>'
    ) in rows
    assert "score [95% CI]" in section
    # names as text; the two agree on the three pairs but one, which bo judged again: both bad
    assert "Reviewers: &lt;ann&gt; (3), bo (4);" in section
    assert re.search(
        r"agreement: 67% of 3 comparisons of two votes on 3 pairs agree, "
        r"Krippendorff&#39;s alpha -?\d\.\d\d\.</p>",
        section,
    ), section
