"""The review as an MLflow run: logged when ``veolab review`` stops, covering every vote so far.

    run_id = log_review(session)          # None when the experiment has no votes yet

One run under the experiment, tagged ``veolab.kind=review`` and ``veolab.review_by``, created,
filled and ended in one go (so a server killed while it serves leaves no RUNNING run; a kill
during these few seconds leaves one that the next sweep closes as KILLED, as it closes any run
of a dead process). It holds, per group, ``bt_score/<slug>``, ``bt_lo/<slug>``,
``bt_hi/<slug>``, ``win_rate/<slug>`` and ``both_bad_rate/<slug>`` (the param
``group/<slug>`` is the group's label), the vote count, reviewers and agreement, and the
artifacts ``votes.csv`` and ``ranking.json``. Each generation that was shown gets its
``review_wins``, ``review_losses``, ``review_ties`` and ``review_both_bad`` so far, and each
vote becomes ``pairwise`` feedback on the two generations' traces (``tracking.feedback``).

Votes are in the ledger the moment they are cast: a kill -9 loses only this log, and the next
invocation's run covers every vote. The names live in ``tracking.schema``.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from veolab.review.ranking import BOTH_BAD, LEFT, RIGHT, TIE
from veolab.review.session import ReviewSession, ranking_payload
from veolab.review.votes import Vote
from veolab.tracking import schema as S

SLUG_MAX = 80


def slugs(groups: list[str]) -> dict[str, str]:
    """A metric-safe name per group label (letters, digits, ``_ . -``), unique.

    >>> slugs(["lighting=bright sunny", "lighting=dark", "a/b", "a b"])
    {'lighting=bright sunny': 'lighting_bright_sunny', 'lighting=dark': 'lighting_dark', \
'a/b': 'a_b', 'a b': 'a_b_2'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for g in groups:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", g).strip("_.")[:SLUG_MAX] or "group"
        base = base.replace("..", "_")
        slug, n = base, 2
        while slug in used:
            slug, n = f"{base}_{n}", n + 1
        used.add(slug)
        out[g] = slug
    return out


def run_counts(votes: list[Vote]) -> dict[str, Counter]:
    """run id -> Counter of wins, losses, ties and both_bad over ``votes``."""
    counts: dict[str, Counter] = {}
    for v in votes:
        left = counts.setdefault(v.left_run_id, Counter())
        right = counts.setdefault(v.right_run_id, Counter())
        if v.choice == TIE:
            left["ties"] += 1
            right["ties"] += 1
        elif v.choice == BOTH_BAD:
            left["both_bad"] += 1
            right["both_bad"] += 1
        elif v.choice in (LEFT, RIGHT):
            winner, loser = (left, right) if v.choice == LEFT else (right, left)
            winner["wins"] += 1
            loser["losses"] += 1
    return counts


def _votes_csv(votes: list[Vote], path: Path) -> None:
    cols = [
        "id",
        "time",
        "reviewer",
        "pair",
        "by",
        "left_run_id",
        "right_run_id",
        "left_group",
        "right_group",
        "choice",
        "note",
    ]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols, lineterminator="\n")
        w.writeheader()
        for v in votes:
            row = v.to_dict()
            row["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v.time))
            w.writerow({c: row.get(c) for c in cols})


def log_review(session: ReviewSession) -> str | None:
    """Log the review of ``session`` as a new MLflow run; its id, or None without votes."""
    votes = session.votes()
    if not votes:
        return None
    tracker = session.tracker
    if tracker is None:
        from veolab.tracking.store import existing_store

        tracker = existing_store()
    payload = ranking_payload(session.experiment, session.by, votes, session.ranking(votes))
    names = slugs([g["group"] for g in payload["groups"]])
    metrics: dict[str, Any] = {
        S.REVIEW_VOTES: len(votes),
        S.REVIEW_REVIEWERS: len(payload["reviewers"]),
        S.REVIEW_AGREEMENT: payload["agreement"]["percent"],
        S.REVIEW_ALPHA: payload["agreement"]["alpha"],
    }
    params: dict[str, Any] = {"by": session.by, "bootstrap": payload["bootstrap"]}
    for g in payload["groups"]:
        slug = names[g["group"]]
        params[f"{S.REVIEW_GROUP_PARAM}/{slug}"] = g["group"]
        for key, value in (
            (S.BT_SCORE, g["score"]),
            (S.BT_LO, g["lo"]),
            (S.BT_HI, g["hi"]),
            (S.WIN_RATE, g["win_rate"]),
            (S.BOTH_BAD_RATE, g["both_bad_rate"]),
        ):
            metrics[f"{key}/{slug}"] = value
    exp_id = session.table.experiment_id
    tags = {S.KIND: S.KIND_REVIEW, S.REVIEW_BY: session.by}
    run_id = tracker.create_run(exp_id, f"review by {session.by} ({len(votes)} votes)", tags)
    status = "FAILED"
    try:
        tracker.log(run_id, params=params, metrics=metrics)
        with tempfile.TemporaryDirectory(prefix="veolab-review-log-") as tmp:
            _votes_csv(votes, Path(tmp) / S.ART_VOTES)
            (Path(tmp) / S.ART_RANKING).write_text(json.dumps(payload, indent=2) + "\n")
            tracker.log_artifacts(run_id, Path(tmp))
        shown = set(session.table.frame["run_id"])
        for rid, c in run_counts(votes).items():
            if rid in shown:
                tracker.log(
                    rid,
                    metrics={
                        S.REVIEW_WINS: c["wins"],
                        S.REVIEW_LOSSES: c["losses"],
                        S.REVIEW_TIES: c["ties"],
                        S.REVIEW_BOTH_BAD: c["both_bad"],
                    },
                )
        status = "FINISHED"
    finally:
        tracker.terminate(run_id, status)
    _sync_feedback(tracker, exp_id, votes)
    return run_id


def _sync_feedback(tracker: Any, experiment_id: str, votes: list[Vote]) -> None:
    """Each vote also as ``pairwise`` feedback on the two generations' traces (tracking/
    feedback.py, only what they lack yet); a failure there costs the feedback, not the run."""
    from veolab.tracking.feedback import sync_feedback

    try:
        sync_feedback(tracker, experiment_id, votes=[v.to_dict() for v in votes])
    except Exception as exc:  # noqa: BLE001 - MLflow's tracing raises many kinds
        import sys

        print(f"veolab: the votes were not added as trace feedback: {exc}", file=sys.stderr)


__all__ = ["log_review", "run_counts", "slugs"]
