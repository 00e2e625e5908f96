"""A review of one experiment: its generations, the pairs served, the votes and the ranking.

    session = ReviewSession.open("quickstart", by="var.lighting")
    pair = session.next_pair("ann")            # {"pair": ..., "left": {"run_id": ...}, ...}
    session.vote(pair["pair"], "ann", "left")  # {"ok": True, "left": {"group": ...}, ...}
    session.ranking_dict()                     # what GET /api/ranking answers

What the web app (``review.app``) serves, as plain Python: everything the page can do, a script
can do by importing this. Votes and served pairs live in the ledger database
(:class:`~veolab.review.votes.VoteStore`), so two sessions on one experiment (two servers, or a
restarted one) share them. The run table is read once, when the session opens.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from veolab.compare.runs import RunTable, load_runs
from veolab.errors import ConfigError, TrackingError, VoteError
from veolab.review.pairs import Generation, PairPlan, eligible, group_of_runs
from veolab.review.ranking import Ranking, rank_votes
from veolab.review.votes import ServedPair, Vote, VoteStore, check_reviewer
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker, existing_store


class ReviewSession:
    """One experiment under review (thread-safe)."""

    def __init__(
        self,
        table: RunTable,
        *,
        by: str = "variant",
        include_failed: bool = False,
        store: VoteStore | None = None,
        tracker: Tracker | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.table = table
        self.experiment = table.experiment_name
        self.by = by
        self.include_failed = include_failed
        self.tracker = tracker
        self.groups, self.group_of = group_of_runs(table, by)
        self.generations = eligible(table, by, include_failed)
        self.plan = PairPlan(self.generations)
        self.store = store or VoteStore()
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._ranking: tuple[int, Ranking] | None = None
        self._videos: dict[str, Path] = {}
        self._video_dir: Path | None = None

    @classmethod
    def open(
        cls,
        experiment: str,
        *,
        by: str = "variant",
        include_failed: bool = False,
        tracking_uri: str | None = None,
        store: VoteStore | None = None,
    ) -> ReviewSession:
        """The review of ``experiment`` (a name or a sweep's run id) in the MLflow store at
        ``tracking_uri``; a :class:`ConfigError` when fewer than two groups have a generation
        to show."""
        tracker = existing_store(tracking_uri)
        table = load_runs(experiment, tracker=tracker)
        session = cls(table, by=by, include_failed=include_failed, store=store, tracker=tracker)
        session.require_pairs()
        return session

    def require_pairs(self) -> None:
        if self.plan.candidates:
            return
        shown = sorted({g.group for g in self.generations})
        what = "passed their checks" if not self.include_failed else "finished"
        hint = "" if self.include_failed else " add --include-failed, or"
        raise ConfigError(
            f"experiment {self.experiment!r} has {len(shown)} group(s) by {self.by} with "
            f"generations that {what} ({', '.join(shown) or 'none'}): a review needs two;"
            f"{hint} group by another key with --by"
        )

    # -- pairs ------------------------------------------------------------------------------

    def _votes_per_group_pair(self, votes: list[Vote]) -> Counter:
        counts: Counter = Counter()
        for v in votes:
            gp = self.plan.group_pair(v.left_run_id, v.right_run_id)
            if gp is not None:
                counts[gp] += 1
        return counts

    def next_pair(self, reviewer: str, *, skip: bool = False) -> dict[str, Any]:
        """The pair ``reviewer`` should judge: the one served to them and not yet voted on (a
        reload shows it again), else a new one (see ``review.pairs``). ``skip`` sets the pending
        pair aside (it counts as seen) and serves a new one."""
        reviewer = check_reviewer(reviewer)
        self.require_pairs()
        with self._lock:
            for pending in self.store.pending(self.experiment, reviewer):
                usable = pending.runs in self.plan.all_pairs
                if usable and not skip:
                    return self._pair_payload(pending, reviewer, resumed=True)
                self.store.skip(pending.id)
            seen = Counter(p.runs for p in self.store.served(self.experiment, reviewer))
            votes = self.store.votes(self.experiment)
            (left, right), repeat = self.plan.choose(
                self._votes_per_group_pair(votes), seen, self.rng
            )
            pair = ServedPair.new(
                self.experiment,
                reviewer,
                self.by,
                (left, self.plan.generations[left].group),
                (right, self.plan.generations[right].group),
            )
            self.store.serve(pair)
            return self._pair_payload(pair, reviewer, repeat=repeat)

    def _pair_payload(
        self, pair: ServedPair, reviewer: str, *, resumed: bool = False, repeat: bool = False
    ) -> dict[str, Any]:
        left = self.plan.generations[pair.left_run_id]
        right = self.plan.generations[pair.right_run_id]
        return {
            "pair": pair.id,
            "left": {"run_id": left.run_id},
            "right": {"run_id": right.run_id},
            "seed": left.seed if left.seed == right.seed else None,
            "resumed": resumed,
            "repeat": repeat,
            "progress": self.progress(reviewer),
        }

    def progress(self, reviewer: str) -> dict[str, Any]:
        """How far ``reviewer`` is: their votes, the distinct pairs served to them of all
        candidates, and every reviewer's votes on this experiment."""
        votes = self.store.votes(self.experiment)
        served = {p.runs for p in self.store.served(self.experiment, reviewer)}
        return {
            "reviewer": reviewer,
            "votes": sum(v.reviewer == reviewer for v in votes),
            "seen": len(served & self.plan.all_pairs),
            "pairs": len(self.plan.all_pairs),
            "all_votes": len(votes),
        }

    # -- votes ------------------------------------------------------------------------------

    def vote(
        self, pair_id: str, reviewer: str, choice: str, note: str | None = None
    ) -> dict[str, Any]:
        """Record a vote (committed before this returns) and reveal the groups."""
        if not isinstance(pair_id, str) or not pair_id or len(pair_id) > 64:
            raise VoteError("pair must be the id GET /api/pair returned")
        if not isinstance(choice, str):
            raise VoteError("choice must be one of left, right, tie, both_bad")
        v = self.store.vote(pair_id, reviewer, choice, note, experiment=self.experiment)
        return {
            "ok": True,
            "vote": v.id,
            "pair": v.pair_id,
            "choice": v.choice,
            "left": {"run_id": v.left_run_id, "group": self._group(v.left_run_id, v.left_group)},
            "right": {
                "run_id": v.right_run_id,
                "group": self._group(v.right_run_id, v.right_group),
            },
            "progress": self.progress(v.reviewer),
        }

    def _group(self, run_id: str, stored: str) -> str:
        return self.group_of.get(run_id, stored)

    def votes(self) -> list[Vote]:
        return self.store.votes(self.experiment)

    # -- ranking ----------------------------------------------------------------------------

    def ranking(self, votes: list[Vote] | None = None) -> Ranking:
        """The ranking of every vote on this experiment, grouped by this session's ``by``
        (computed again only when the number of votes changed)."""
        votes = self.votes() if votes is None else votes
        cached = self._ranking
        if cached is not None and cached[0] == len(votes):
            return cached[1]
        ranking = rank_votes(judgements(votes, self.group_of, self.by), self.groups)
        self._ranking = (len(votes), ranking)
        return ranking

    def ranking_dict(self) -> dict[str, Any]:
        """What GET /api/ranking answers (and ``veolab review --ranking --json`` prints)."""
        votes = self.votes()
        return ranking_payload(self.experiment, self.by, votes, self.ranking(votes))

    # -- videos -----------------------------------------------------------------------------

    def video_path(self, run_id: str) -> Path:
        """The MP4 of a shown generation: from the local video store when it has it, else the
        run's ``video.mp4`` artifact (copied once into a temporary folder)."""
        gen = self.plan.generations.get(run_id)
        if gen is None:
            raise VoteError(f"run {run_id!r} is not a generation of this review", status=404)
        with self._lock:
            if run_id in self._videos:
                return self._videos[run_id]
            path = self._find_video(gen)
            self._videos[run_id] = path
            return path

    def _find_video(self, gen: Generation) -> Path:
        from veolab.runner.videostore import VideoStore

        if gen.provider and gen.model and gen.request_hash:
            stored = VideoStore().video_path(gen.provider, gen.model, gen.request_hash)
            if stored.is_file():
                return stored
        tracker = self.tracker or existing_store()
        if self._video_dir is None:
            self._video_dir = Path(tempfile.mkdtemp(prefix="veolab-review-"))
        dst = self._video_dir / gen.run_id
        try:
            return tracker.download(gen.run_id, S.ART_VIDEO, dst)
        except TrackingError as exc:
            raise VoteError(f"run {gen.run_id} has no {S.ART_VIDEO}: {exc}", status=404) from exc

    def close(self) -> None:
        if self._video_dir is not None:
            shutil.rmtree(self._video_dir, ignore_errors=True)
        self.store.close()


def judgements(votes: list[Vote], group_of: dict[str, str], by: str) -> list[tuple[str, str, str]]:
    """(left group, right group, choice) of each vote when grouped by ``by``: the groups of its
    run ids in ``group_of``, else the groups stored with the vote when it was cast under the
    same ``by``; a vote on runs this grouping cannot place is left out."""
    out = []
    for v in votes:
        same = v.by == by
        left = group_of.get(v.left_run_id) or (v.left_group if same else None)
        right = group_of.get(v.right_run_id) or (v.right_group if same else None)
        if left is not None and right is not None:
            out.append((left, right, v.choice))
    return out


def ranking_payload(
    experiment: str, by: str, votes: list[Vote], ranking: Ranking
) -> dict[str, Any]:
    """The ranking as GET /api/ranking and ``--json`` give it: groups best first, every
    vote (``votes``) and those the ranking counted (``counted``), votes per reviewer and the
    agreement between reviewers."""
    from veolab.review.agreement import agreement

    reviewers = Counter(v.reviewer for v in votes)
    body = ranking.to_dict()
    return {
        "experiment": experiment,
        "by": by,
        "groups": body["groups"],
        "votes": len(votes),
        "counted": body["votes"],
        "comparisons": body["comparisons"],
        "bootstrap": body["bootstrap"],
        "level": body["level"],
        "reviewers": [{"reviewer": r, "votes": n} for r, n in sorted(reviewers.items())],
        "agreement": agreement(
            (v.reviewer, v.left_run_id, v.right_run_id, v.choice) for v in votes
        ),
    }


def ranking_of(
    experiment: str, *, by: str = "variant", tracking_uri: str | None = None
) -> dict[str, Any]:
    """The ranking payload of ``experiment`` without serving anything (``veolab review
    --ranking``); no ledger yet means no votes (and none is created)."""
    tracker = existing_store(tracking_uri)
    table = load_runs(experiment, tracker=tracker)
    groups, group_of = group_of_runs(table, by)
    store = VoteStore.existing()
    try:
        votes = store.votes(table.experiment_name) if store is not None else []
    finally:
        if store is not None:
            store.close()
    ranking = rank_votes(judgements(votes, group_of, by), groups)
    return ranking_payload(table.experiment_name, by, votes, ranking)


__all__ = ["ReviewSession", "judgements", "ranking_of", "ranking_payload"]
