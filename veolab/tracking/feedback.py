"""Human judgement as MLflow feedback on each generation's trace.

    sync_feedback(tracker, experiment_id, votes=votes)   # -> how many feedbacks were logged

veolab's own records stay the source for ``compare`` and ``report``: a 1-5 rating is the metric
``human_score`` (``veolab rate``), a pairwise vote is a row in the ledger (``veolab review``).
MLflow's views show *feedback*, an assessment attached to a trace with a HUMAN source, so each
rating and vote is also logged as one:

- a rating: feedback ``human_score`` (the score; the note as its rationale; the reviewer as its
  source), once per rating (metadata ``veolab.rated_at`` = the metric's timestamp);
- a vote: feedback ``pairwise`` on each of the two generations' traces, valued ``win``,
  ``loss``, ``tie`` or ``both_bad`` from that generation's side (metadata: the vote's id, the
  other run, the pair as shown, the note as rationale).

Logging feedback needs MLflow itself, which ``veolab rate`` does not import on a local store (it
answers in a quarter of a second). So feedback is *synced*: each call finds what is missing on
the traces and logs only that, so running it twice logs nothing new. ``veolab ui`` syncs before
it serves the UI, and ``veolab review`` at its end; a run without a trace
(tracing off, or logged before traces existed) gets none.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import Any

from veolab.tracking import schema as S

RATING = "human_score"
PAIRWISE = "pairwise"
_FROM_LEFT = {"left": ("win", "loss"), "right": ("loss", "win"), "tie": ("tie", "tie")}
_FROM_LEFT["both_bad"] = ("both_bad", "both_bad")


def reviewer_name(given: str | None = None) -> str:
    """The reviewer a rating is credited to: ``given``, else the OS user, else "unknown"."""
    if given and given.strip():
        return given.strip()
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def _source(reviewer: str) -> Any:
    from mlflow.entities import AssessmentSource

    return AssessmentSource(source_type="HUMAN", source_id=reviewer)


def _existing(tracker: Any, trace_id: str, name: str, key: str) -> set[str]:
    """The ``key`` metadata of the feedbacks named ``name`` already on the trace."""
    trace = tracker.client.get_trace(trace_id)
    found = set()
    for a in getattr(trace.info, "assessments", None) or []:
        meta = a.metadata or {}
        if a.name == name and key in meta:
            found.add(str(meta[key]))
    return found


def _log(trace_id: str, name: str, value: Any, reviewer: str, note: str | None, meta: dict) -> None:
    import mlflow

    mlflow.log_feedback(
        trace_id=trace_id,
        name=name,
        value=value,
        source=_source(reviewer),
        rationale=note or None,
        metadata=meta,
    )


def sync_ratings(tracker: Any, runs: Iterable[Any]) -> int:
    """Log the latest rating of each run (an MLflow Run) as feedback where it is missing."""
    logged = 0
    for run in runs:
        trace_id = run.data.tags.get(S.TRACE_ID)
        score = run.data.metrics.get(S.HUMAN_SCORE)
        if not trace_id or score is None:
            continue
        history = tracker.metric_history(run.info.run_id, S.HUMAN_SCORE)
        latest = max(history, key=lambda m: (m.step, m.timestamp)) if history else None
        stamp = str(latest.timestamp) if latest is not None else "0"
        if stamp in _existing(tracker, trace_id, RATING, S.FEEDBACK_RATED_AT):
            continue
        reviewer = run.data.tags.get(S.RATING_REVIEWER) or "unknown"
        _log(
            trace_id,
            RATING,
            float(score),
            reviewer,
            run.data.tags.get(S.RATING_NOTE),
            {S.FEEDBACK_RATED_AT: stamp},
        )
        logged += 1
    return logged


def sync_votes(tracker: Any, votes: Iterable[dict[str, Any]], traces: dict[str, str]) -> int:
    """Log each vote as feedback on both generations' traces where it is missing.

    ``votes``: dicts with ``id``, ``reviewer``, ``left_run_id``, ``right_run_id``, ``choice``
    and ``note``; ``traces``: run id -> trace id.
    """
    logged = 0
    seen: dict[str, set[str]] = {}
    for vote in votes:
        sides = _FROM_LEFT.get(vote["choice"])
        if sides is None:
            continue
        pair = (vote["left_run_id"], vote["right_run_id"])
        for i, run_id in enumerate(pair):
            trace_id = traces.get(run_id)
            if not trace_id:
                continue
            if trace_id not in seen:
                seen[trace_id] = _existing(tracker, trace_id, PAIRWISE, S.FEEDBACK_VOTE)
            if str(vote["id"]) in seen[trace_id]:
                continue
            _log(
                trace_id,
                PAIRWISE,
                sides[i],
                str(vote.get("reviewer") or "unknown"),
                vote.get("note"),
                {
                    S.FEEDBACK_VOTE: str(vote["id"]),
                    S.FEEDBACK_OTHER_RUN: pair[1 - i],
                    S.FEEDBACK_SIDE: "left" if i == 0 else "right",
                },
            )
            seen[trace_id].add(str(vote["id"]))
            logged += 1
    return logged


def sync_feedback(tracker: Any, experiment_id: str, votes: Iterable[dict[str, Any]] = ()) -> int:
    """Sync the ratings of the experiment's generations and the given votes; return the count."""
    from veolab.tracking.traces import bind_store, flush

    bind_store(tracker.uri)
    flush()  # traces logged by this process are written in the background: wait for them
    runs = [
        r
        for r in tracker.search(experiment_id, f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'")
        if r.data.tags.get(S.TRACE_ID)
    ]
    traces = {r.info.run_id: r.data.tags[S.TRACE_ID] for r in runs if S.TRACE_ID in r.data.tags}
    return sync_ratings(tracker, runs) + sync_votes(tracker, votes, traces)


__all__ = ["PAIRWISE", "RATING", "reviewer_name", "sync_feedback", "sync_ratings", "sync_votes"]
