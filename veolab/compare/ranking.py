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
    labels = [g.label for g in groups]
    key = _key(experiment, by, votes, group_of, labels)
    cached = _cached(key)
    if cached is not None:
        return cached
    ranking = rank_votes(judgements(votes, group_of, by), labels)
    payload = ranking_payload(experiment, by, votes, ranking)
    _keep(key, payload)
    return payload


# The fit and its 500 bootstrap refits take seconds (and choix imports scipy.stats), so the
# payload is kept under $VEOLAB_HOME/cache/rankings, keyed by everything it is computed from:
# the same votes over the same groups give the same numbers (the resampling's seed is fixed).
CACHE_VERSION = 1


def _key(
    experiment: str, by: str, votes: list[Any], group_of: dict[str, str], labels: list[str]
) -> str:
    import hashlib
    import json

    from veolab.review.ranking import ALPHA, N_BOOT

    blob = json.dumps(
        {
            "version": CACHE_VERSION,
            "experiment": experiment,
            "by": by,
            "labels": labels,
            "group_of": sorted(group_of.items()),
            "votes": [v.to_dict() for v in votes],
            "n_boot": N_BOOT,
            "alpha": ALPHA,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _path(key: str) -> Any:
    from veolab._fs import veolab_home

    return veolab_home() / "cache" / "rankings" / f"{key}.json"


def _cached(key: str) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(_path(key).read_text())
    except (OSError, ValueError):  # absent, or a cache file someone broke: compute it again
        return None


def _keep(key: str, payload: dict[str, Any]) -> None:
    import json

    from veolab._fs import atomic_write_text

    try:
        atomic_write_text(_path(key), json.dumps(payload))
    except (OSError, TypeError, ValueError):  # a read-only home: no cache, same answer
        pass


__all__ = ["votes_ranking"]
