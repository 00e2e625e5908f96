"""The review's ranking beside the metrics: ``veolab compare`` shows it when the experiment has
votes (``veolab review``), grouped as the comparison is, and ``--json`` carries it as
``ranking`` (the shape of the review server's ``GET /api/ranking``; null without votes).

Votes are placed in the comparison's groups by their run ids (a vote on a run this table does
not hold, such as an earlier run of a request run again with ``--force``, counts with the group
it was cast under when that grouping is the same). Without votes this costs one file check or
one read-only SQLite query (``review.probe``): choix and SQLAlchemy are imported only when
there is something to rank.
"""

from __future__ import annotations

from typing import Any


def votes_ranking(experiment: str, by: str, groups: list[Any]) -> dict[str, Any] | None:
    """The ranking payload of ``experiment``'s votes over ``groups`` (compare's
    :class:`~veolab.compare.table.Group` list), or None when it has no votes."""
    from veolab.review.probe import has_votes

    if not has_votes(experiment):
        return None
    from veolab.review.ranking import rank_votes
    from veolab.review.session import judgements, ranking_payload
    from veolab.review.votes import VoteStore

    store = VoteStore()
    try:
        votes = store.votes(experiment)
    finally:
        store.close()
    group_of = {rid: g.label for g in groups for rid in g.run_ids}
    ranking = rank_votes(judgements(votes, group_of, by), [g.label for g in groups])
    return ranking_payload(experiment, by, votes, ranking)


__all__ = ["votes_ranking"]
