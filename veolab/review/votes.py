"""Votes and the pairs they judge, kept in the ledger database the moment they are cast.

    store = VoteStore()                          # the ledger's database (runner/ledger.py)
    store.serve(ServedPair.new("quickstart", "ann", "variant", left, right))
    store.vote(pair_id, "ann", "left", note="sharper fur")

The same database as the custody ledger (SQLite at ``$VEOLAB_HOME/ledger.db``, or any
SQLAlchemy URL in ``VEOLAB_LEDGER_URI``), through SQLAlchemy Core with the ledger's engine
(WAL, ``synchronous=FULL``, one write lock per transaction), so the statements serve PostgreSQL
too. Two tables, made by the ledger's migrations (``veolab.runner.ledger_db``):

``review_pairs``, one row per pair served to a reviewer: its id, experiment, reviewer, the two
runs as shown (``left_run_id``, ``right_run_id``) and their groups under ``by`` at the time, when
it was served, and ``skipped`` when the reviewer asked for another pair instead of voting.

``review_votes``, one row per vote: experiment, reviewer, time, pair id (unique: a pair takes
one vote), the two runs and their groups as shown, the choice (``left``, ``right``, ``tie``,
``both_bad``) and the note. A vote is committed before the server answers, so a killed server
loses no acknowledged vote; a pair served before a restart can still be voted on.

Nothing here deletes a row.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from veolab.errors import VoteError
from veolab.review.ranking import CHOICES
from veolab.runner.ledger_db import existing_ledger, ledger_url, open_engine

REVIEWER_MAX = 100
NOTE_MAX = 2000

metadata = sa.MetaData()
review_pairs = sa.Table(
    "review_pairs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("experiment", sa.String(400), nullable=False, index=True),
    sa.Column("reviewer", sa.String(REVIEWER_MAX), nullable=False),
    sa.Column("by", sa.String(400), nullable=False),
    sa.Column("left_run_id", sa.String(64), nullable=False),
    sa.Column("right_run_id", sa.String(64), nullable=False),
    sa.Column("left_group", sa.String(400), nullable=False),
    sa.Column("right_group", sa.String(400), nullable=False),
    sa.Column("served", sa.Float, nullable=False),
    sa.Column("skipped", sa.Float),
)
review_votes = sa.Table(
    "review_votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("experiment", sa.String(400), nullable=False, index=True),
    sa.Column("reviewer", sa.String(REVIEWER_MAX), nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("pair_id", sa.String(32), nullable=False, unique=True),
    sa.Column("by", sa.String(400), nullable=False),
    sa.Column("left_run_id", sa.String(64), nullable=False),
    sa.Column("right_run_id", sa.String(64), nullable=False),
    sa.Column("left_group", sa.String(400), nullable=False),
    sa.Column("right_group", sa.String(400), nullable=False),
    sa.Column("choice", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),
)


@dataclass(frozen=True)
class ServedPair:
    """A pair of generations as one reviewer was shown it."""

    id: str
    experiment: str
    reviewer: str
    by: str
    left_run_id: str
    right_run_id: str
    left_group: str
    right_group: str
    served: float
    skipped: float | None = None

    @classmethod
    def new(
        cls,
        experiment: str,
        reviewer: str,
        by: str,
        left: tuple[str, str],
        right: tuple[str, str],
    ) -> ServedPair:
        """A pair with a fresh unguessable id; ``left`` and ``right`` are (run id, group)."""
        return cls(
            id=secrets.token_hex(8),
            experiment=experiment,
            reviewer=reviewer,
            by=by,
            left_run_id=left[0],
            right_run_id=right[0],
            left_group=left[1],
            right_group=right[1],
            served=time.time(),
        )

    @property
    def runs(self) -> tuple[str, str]:
        """The two run ids, whichever side they were on (sorted)."""
        a, b = self.left_run_id, self.right_run_id
        return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Vote:
    id: int
    experiment: str
    reviewer: str
    time: float
    pair_id: str
    by: str
    left_run_id: str
    right_run_id: str
    left_group: str
    right_group: str
    choice: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "reviewer": self.reviewer,
            "time": self.time,
            "pair": self.pair_id,
            "by": self.by,
            "left_run_id": self.left_run_id,
            "right_run_id": self.right_run_id,
            "left_group": self.left_group,
            "right_group": self.right_group,
            "choice": self.choice,
            "note": self.note,
        }


def check_reviewer(name: Any) -> str:
    """A reviewer name: 1 to 100 printable characters (surrounding blanks dropped)."""
    if not isinstance(name, str) or not name.strip():
        raise VoteError("a reviewer name is required (reviewer=NAME)")
    name = name.strip()
    if len(name) > REVIEWER_MAX:
        raise VoteError(f"the reviewer name has {len(name)} characters: at most {REVIEWER_MAX}")
    if not name.isprintable():
        raise VoteError("the reviewer name has control characters: use printable text")
    return name


def check_note(note: Any) -> str | None:
    if note is None or note == "":
        return None
    if not isinstance(note, str):
        raise VoteError("note must be a string")
    if len(note) > NOTE_MAX:
        raise VoteError(f"the note has {len(note)} characters: at most {NOTE_MAX}")
    return note


class VoteStore:
    """The review tables of one ledger database. Thread-safe; every method is one transaction."""

    def __init__(self, url: str | None = None) -> None:
        self.url = ledger_url(url)
        self.engine = open_engine(self.url, "the review tables of the veolab ledger")

    @classmethod
    def existing(cls) -> VoteStore | None:
        """The store of an existing ledger, or None (a read never creates the ledger)."""
        return cls() if existing_ledger() else None

    # -- pairs ------------------------------------------------------------------------------

    def serve(self, pair: ServedPair) -> None:
        with self.engine.begin() as c:
            c.execute(review_pairs.insert().values(**_pair_values(pair)))

    def pair(self, pair_id: str) -> ServedPair | None:
        with self.engine.begin() as c:
            row = c.execute(sa.select(review_pairs).where(review_pairs.c.id == pair_id)).first()
        return ServedPair(*row) if row else None

    def pending(self, experiment: str, reviewer: str) -> list[ServedPair]:
        """Pairs served to ``reviewer`` that have neither a vote nor a skip, newest first."""
        voted = sa.select(review_votes.c.pair_id)
        q = (
            sa.select(review_pairs)
            .where(
                review_pairs.c.experiment == experiment,
                review_pairs.c.reviewer == reviewer,
                review_pairs.c.skipped.is_(None),
                review_pairs.c.id.not_in(voted),
            )
            .order_by(review_pairs.c.served.desc())
        )
        with self.engine.begin() as c:
            return [ServedPair(*row) for row in c.execute(q)]

    def skip(self, pair_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                review_pairs.update()
                .where(review_pairs.c.id == pair_id, review_pairs.c.skipped.is_(None))
                .values(skipped=time.time())
            )

    def served(self, experiment: str, reviewer: str | None = None) -> list[ServedPair]:
        """Every pair served (to ``reviewer``, when given), oldest first."""
        q = sa.select(review_pairs).where(review_pairs.c.experiment == experiment)
        if reviewer is not None:
            q = q.where(review_pairs.c.reviewer == reviewer)
        with self.engine.begin() as c:
            return [ServedPair(*row) for row in c.execute(q.order_by(review_pairs.c.served))]

    # -- votes ------------------------------------------------------------------------------

    def vote(
        self,
        pair_id: str,
        reviewer: str,
        choice: str,
        note: str | None = None,
        *,
        experiment: str | None = None,
    ) -> Vote:
        """Record a vote on a served pair, committed before returning; a :class:`VoteError`
        (nothing stored) for an unknown pair (or one of another ``experiment``), another
        reviewer's pair, a second vote on one pair or a bad choice."""
        reviewer = check_reviewer(reviewer)
        note = check_note(note)
        if choice not in CHOICES:
            raise VoteError(f"choice {choice!r} is not one of {', '.join(CHOICES)}")
        now = time.time()
        try:
            with self.engine.begin() as c:
                row = c.execute(sa.select(review_pairs).where(review_pairs.c.id == pair_id)).first()
                if row is None or (experiment is not None and row.experiment != experiment):
                    raise VoteError(
                        f"unknown pair {pair_id!r}: vote on a pair from GET /api/pair", status=404
                    )
                pair = ServedPair(*row)
                if pair.reviewer != reviewer:
                    raise VoteError(
                        f"pair {pair_id} was served to another reviewer, not {reviewer!r}: "
                        "get your own from GET /api/pair",
                        status=409,
                    )
                values = {
                    "experiment": pair.experiment,
                    "reviewer": reviewer,
                    "time": now,
                    "pair_id": pair.id,
                    "by": pair.by,
                    "left_run_id": pair.left_run_id,
                    "right_run_id": pair.right_run_id,
                    "left_group": pair.left_group,
                    "right_group": pair.right_group,
                    "choice": choice,
                    "note": note,
                }
                inserted = c.execute(review_votes.insert().values(**values)).inserted_primary_key
        except sa.exc.IntegrityError as exc:
            raise VoteError(f"pair {pair_id} already has a vote: get a new pair", 409) from exc
        assert inserted is not None
        return Vote(id=int(inserted[0]), **values)  # type: ignore[arg-type]

    def votes(self, experiment: str) -> list[Vote]:
        """Every vote of ``experiment``, oldest first."""
        q = (
            sa.select(review_votes)
            .where(review_votes.c.experiment == experiment)
            .order_by(review_votes.c.id)
        )
        with self.engine.begin() as c:
            return [Vote(*row) for row in c.execute(q)]

    def close(self) -> None:
        self.engine.dispose()


def _pair_values(pair: ServedPair) -> dict[str, Any]:
    return {f: getattr(pair, f) for f in ServedPair.__dataclass_fields__}


__all__ = [
    "NOTE_MAX",
    "REVIEWER_MAX",
    "ServedPair",
    "Vote",
    "VoteStore",
    "check_note",
    "check_reviewer",
]
