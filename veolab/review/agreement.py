"""Agreement between reviewers on the pairs that more than one of them judged.

    >>> votes = [("ann", "r1", "r2", "left"), ("bob", "r2", "r1", "right"),
    ...          ("ann", "r3", "r4", "tie"), ("bob", "r3", "r4", "left")]
    >>> agreement(votes)["percent"]         # r1 over r2 for both (sides were swapped); r3/r4 not
    0.5

A unit is a pair of generations, whichever side each was shown on: a vote becomes one of four
categories, ``first`` (the run with the smaller id won), ``second``, ``tie`` or ``both_bad``.
A reviewer who judged the same pair twice counts with their latest vote. Only units judged by
two or more reviewers count.

``percent`` is the share of agreeing pairs of reviewers over all units (``agreeing`` /
``pairs``); ``alpha`` is Krippendorff's alpha for nominal data from the ``krippendorff``
package (1 perfect agreement, 0 what chance gives, below 0 systematic disagreement), None when it
is undefined (no unit judged twice, or every vote in one category).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CATEGORIES = ("first", "second", "tie", "both_bad")


def _category(left: str, right: str, choice: str) -> str:
    if choice in ("tie", "both_bad"):
        return choice
    winner = left if choice == "left" else right
    return "first" if winner == min(left, right) else "second"


def agreement(votes: Iterable[tuple[str, str, str, str]]) -> dict[str, Any]:
    """``votes``: (reviewer, left run id, right run id, choice), oldest first."""
    units: dict[tuple[str, str], dict[str, str]] = {}
    for reviewer, left, right, choice in votes:
        unit = (min(left, right), max(left, right))
        units.setdefault(unit, {})[reviewer] = _category(left, right, choice)
    shared = {u: r for u, r in units.items() if len(r) >= 2}
    reviewers = sorted({name for r in shared.values() for name in r})
    agreeing = pairs = 0
    for ratings in shared.values():
        values = list(ratings.values())
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                pairs += 1
                agreeing += values[i] == values[j]
    return {
        "units": len(shared),
        "reviewers": len(reviewers),
        "pairs": pairs,
        "agreeing": agreeing,
        "percent": agreeing / pairs if pairs else None,
        "alpha": _alpha(shared, reviewers),
    }


def _alpha(shared: dict[tuple[str, str], dict[str, str]], reviewers: list[str]) -> float | None:
    if not shared:
        return None
    seen = {c for r in shared.values() for c in r.values()}
    if len(seen) < 2:
        return None  # no variation: expected disagreement is 0 and alpha undefined
    import krippendorff
    import numpy as np

    data = np.full((len(reviewers), len(shared)), np.nan)
    for col, ratings in enumerate(shared.values()):
        for name, cat in ratings.items():
            data[reviewers.index(name), col] = CATEGORIES.index(cat)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = krippendorff.alpha(
            reliability_data=data,
            level_of_measurement="nominal",
            value_domain=list(range(len(CATEGORIES))),
        )
    value = float(value)
    return None if value != value else value


__all__ = ["CATEGORIES", "agreement"]
