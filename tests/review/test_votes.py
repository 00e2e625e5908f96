"""The vote store (review/votes.py) in the ledger database, and the probe compare uses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from veolab.errors import VoteError
from veolab.review import probe
from veolab.review.votes import (
    NOTE_MAX,
    REVIEWER_MAX,
    ServedPair,
    VoteStore,
    metadata,
)
from veolab.runner import ledger


def served(store: VoteStore, reviewer: str = "ann", experiment: str = "exp") -> ServedPair:
    pair = ServedPair.new(experiment, reviewer, "variant", ("run-a", "bright"), ("run-b", "dark"))
    store.serve(pair)
    return pair


def test_a_vote_is_in_the_ledger_and_a_new_connection_reads_it(clean_env):
    store = VoteStore()
    assert store.url == f"sqlite:///{clean_env / 'veolab-home' / 'ledger.db'}"
    pair = served(store)
    v = store.vote(pair.id, " ann ", "left", note="<b>sharper</b>")
    assert (v.reviewer, v.choice, v.note, v.left_run_id, v.right_group) == (
        "ann",
        "left",
        "<b>sharper</b>",
        "run-a",
        "dark",
    )
    store.close()
    again = VoteStore()  # another engine, as a restarted server has
    [read] = again.votes("exp")
    assert read == v
    assert again.pair(pair.id) == pair
    assert again.votes("other") == []


@pytest.mark.parametrize(
    ("pair", "reviewer", "choice", "note", "status", "message"),
    [
        ("nope", "ann", "left", None, 404, "unknown pair 'nope'"),
        (None, "bob", "left", None, 409, "served to another reviewer, not 'bob'"),
        (None, "ann", "better", None, 400, "choice 'better' is not one of left, right"),
        (None, "", "left", None, 400, "a reviewer name is required"),
        (None, "a\x00b", "left", None, 400, "control characters"),
        (None, "x" * (REVIEWER_MAX + 1), "left", None, 400, "at most 100"),
        (None, "ann", "left", "n" * (NOTE_MAX + 1), 400, "the note has 2001 characters"),
        (None, "ann", "left", 5, 400, "note must be a string"),
    ],
)
def test_bad_votes_store_nothing(pair, reviewer, choice, note, status, message):
    store = VoteStore()
    good = served(store)
    with pytest.raises(VoteError, match=message) as err:
        store.vote(pair or good.id, reviewer, choice, note)
    assert err.value.status == status
    assert store.votes("exp") == []


def test_a_pair_takes_one_vote():
    store = VoteStore()
    pair = served(store)
    store.vote(pair.id, "ann", "tie")
    with pytest.raises(VoteError, match="already has a vote") as err:
        store.vote(pair.id, "ann", "left")
    assert err.value.status == 409
    assert [v.choice for v in store.votes("exp")] == ["tie"]


def test_a_pair_of_another_experiment_is_unknown_here():
    store = VoteStore()
    pair = served(store, experiment="other")
    with pytest.raises(VoteError, match="unknown pair") as err:
        store.vote(pair.id, "ann", "left", experiment="exp")
    assert err.value.status == 404


def test_pending_and_skipped_pairs():
    store = VoteStore()
    first, second = served(store), served(store)
    served(store, reviewer="bob")
    assert [p.id for p in store.pending("exp", "ann")] == [second.id, first.id]
    store.vote(second.id, "ann", "right")
    store.skip(first.id)
    assert store.pending("exp", "ann") == []
    assert store.pair(first.id).skipped is not None
    assert len(store.served("exp", "ann")) == 2 and len(store.served("exp")) == 3


def test_the_tables_are_portable_sql():
    """Core types only: the same tables compile for PostgreSQL (the ledger's later home)."""
    for table in metadata.sorted_tables:
        ddl = str(sa.schema.CreateTable(table).compile(dialect=postgresql.dialect()))
        assert "CREATE TABLE" in ddl and "AUTOINCREMENT" not in ddl.upper()


def test_probe(clean_env, monkeypatch):
    assert probe.LEDGER_ENV == ledger.LEDGER_ENV
    assert not probe.has_votes("exp")
    assert not (clean_env / "veolab-home" / "ledger.db").exists()  # the probe created nothing
    ledger.Ledger().close()  # a ledger without review tables
    assert not probe.has_votes("exp")
    store = VoteStore()
    store.vote(served(store).id, "ann", "left")
    assert probe.has_votes("exp") and not probe.has_votes("other")
    other = clean_env / "elsewhere.db"
    monkeypatch.setenv(probe.LEDGER_ENV, f"sqlite:///{other}")
    assert not probe.has_votes("exp")
    store = VoteStore()
    assert store.url == f"sqlite:///{other}"
    store.vote(served(store).id, "ann", "left")
    assert probe.has_votes("exp")
