"""Whether an experiment has review votes, without importing SQLAlchemy or creating anything.

``veolab compare`` asks on every call and shows a ranking only when the answer is yes, so the
common case (no votes, or no ledger at all) costs a file check, or one read-only sqlite3 query
on a local ledger. A ledger on a server (``VEOLAB_LEDGER_URI``) is asked through
:class:`~veolab.review.votes.VoteStore`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

LEDGER_ENV = "VEOLAB_LEDGER_URI"  # runner/ledger.py's (that module imports SQLAlchemy)


def has_votes(experiment: str) -> bool:
    """Whether the ledger holds at least one vote on ``experiment``."""
    from veolab._fs import veolab_home

    url = os.environ.get(LEDGER_ENV)
    if url and not url.startswith("sqlite:///"):
        return _has_votes_sqlalchemy(experiment)
    if url:
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    else:
        path = veolab_home() / "ledger.db"
    if not path.is_file():
        return False
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            row = con.execute(
                "SELECT 1 FROM review_votes WHERE experiment = ? LIMIT 1", (experiment,)
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False  # no review tables yet
    return row is not None


def _has_votes_sqlalchemy(experiment: str) -> bool:
    from veolab.review.votes import VoteStore

    store = VoteStore()
    try:
        return bool(store.votes(experiment))
    finally:
        store.close()


__all__ = ["LEDGER_ENV", "has_votes"]
