"""Human ratings: a score from 1 to 5 and an optional note, kept on the run in MLflow.

    rate("3f2a...", 4, note="best fox so far")
    # -> Rating(run_id='3f2a...', score=4.0, note='best fox so far', ratings=1)

The score is the metric ``human_score`` (rating again logs a new step; MLflow shows the latest,
and ``compare`` and ``report`` use the latest); the note is the tag ``veolab.rating_note``
(a new rating without a note leaves an earlier note in place); who rated is the tag
``veolab.rating_reviewer``. MLflow's own views get each rating as feedback on the generation's
trace, synced later (``tracking.feedback``: ``veolab ui`` does it before serving).

On a local SQLite store the rating is one SQLite transaction written as MLflow writes it
(``Tracker.append_metric``): ``veolab rate`` does not import MLflow there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker, existing_store

MIN_SCORE, MAX_SCORE = 1, 5
NOTE_MAX = 5000
REVIEWER_MAX = 200


@dataclass
class Rating:
    run_id: str
    score: float
    note: str | None
    ratings: int  # how many times this run has been rated, this one included


def check_score(score: float) -> float:
    try:
        value = float(score)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"score {score!r} is not a number: give 1 to 5") from exc
    if not math.isfinite(value) or not MIN_SCORE <= value <= MAX_SCORE:
        raise ConfigError(f"score {score} is outside {MIN_SCORE} to {MAX_SCORE}: give 1 to 5")
    return value


def generation_run(tracker: Tracker, run_id: str, verb: str = "rate"):
    """The generation run ``run_id`` names (its id or a unique prefix of it); a ConfigError when
    there is none or it is another kind, worded for the command ``verb`` (an unreachable store is
    a TrackingError, exit 3)."""
    run = tracker.find_run(run_id)
    if run is None:
        raise ConfigError(
            f"no run {run_id!r} in {tracker.uri}: copy an id from `veolab runs`, "
            "or pass --tracking-uri for another store"
        )
    kind = run.data.tags.get(S.KIND)
    if kind != S.KIND_GENERATION:
        rid = run.info.run_id
        hint = (
            f"{verb} one of its child runs: veolab runs {rid} lists them"
            if kind in (S.KIND_SWEEP, S.KIND_RERUN)
            else f"{verb} a generation run: veolab runs lists them"
        )
        raise ConfigError(f"run {rid} is a {kind or 'non-veolab'} run, not a generation: {hint}")
    return run


def rate(
    run_id: str,
    score: float,
    note: str | None = None,
    *,
    tracker: Tracker | None = None,
    reviewer: str | None = None,
) -> Rating:
    """Log ``score`` (1 to 5) and ``note`` on a generation run, credited to ``reviewer`` (by
    default the OS user: MLflow's feedback names it, see ``tracking.feedback``)."""
    from veolab.tracking.feedback import reviewer_name

    value = check_score(score)
    if reviewer is not None and len(reviewer) > REVIEWER_MAX:
        raise ConfigError(
            f"--reviewer has {len(reviewer)} characters: keep it under {REVIEWER_MAX}"
        )
    if note is not None and len(note) > NOTE_MAX:
        raise ConfigError(f"the note has {len(note)} characters: keep it under {NOTE_MAX}")
    tracker = tracker or existing_store()
    run_id = generation_run(tracker, run_id).info.run_id  # a prefix becomes the whole id
    tags = {S.RATING_REVIEWER: reviewer_name(reviewer)}
    if note:
        tags[S.RATING_NOTE] = note
    step = tracker.append_metric(run_id, S.HUMAN_SCORE, value, tags)
    if not note:
        note = tracker.get_run(run_id).data.tags.get(S.RATING_NOTE)
    return Rating(run_id, value, note, step + 1)


def get_rating(run_id: str, *, tracker: Tracker | None = None) -> Rating | None:
    """The latest rating of a run, or None."""
    tracker = tracker or existing_store()
    run = generation_run(tracker, run_id)
    if S.HUMAN_SCORE not in run.data.metrics:
        return None
    run_id = run.info.run_id
    history = tracker.metric_history(run_id, S.HUMAN_SCORE)
    return Rating(
        run_id, run.data.metrics[S.HUMAN_SCORE], run.data.tags.get(S.RATING_NOTE), len(history)
    )


__all__ = ["Rating", "check_score", "get_rating", "rate"]
