"""What is already paid for: each planned run is new, already done (in MLflow) or cached (in the
local store but not in MLflow), and the journal says which submits a crash left open."""

from __future__ import annotations

from dataclasses import dataclass, field

from veolab.experiment.plan import Plan
from veolab.journal import Journal, JournalEntry, journal_key
from veolab.store import VideoStore
from veolab.tracking.store import Tracker

NEW, DONE, CACHED, RESUME, UNKNOWN = "new", "done", "cached", "resume", "unknown"


@dataclass
class PlanStatus:
    status: dict[int, str]  # run index -> new / done / cached / resume / unknown
    done_run_ids: dict[int, str] = field(default_factory=dict)
    journal: dict[int, JournalEntry] = field(default_factory=dict)
    experiment_id: str | None = None

    def count(self, kind: str) -> int:
        return sum(1 for s in self.status.values() if s == kind)

    def to_pay(self, plan: Plan) -> list:
        return [r for r in plan.runs if self.status[r.index] in (NEW, UNKNOWN)]


def plan_status(
    plan: Plan,
    tracker: Tracker | None,
    store: VideoStore,
    journal: Journal | None,
    force: bool = False,
) -> PlanStatus:
    """One MLflow query for the whole plan, one look at the store, one at the journal."""
    done: dict[str, str] = {}
    exp_id = None
    if tracker is not None and not force:
        exp_id = tracker.experiment_id(plan.experiment.name, create=False)
        if exp_id is not None:
            done = tracker.finished_by_hash(exp_id, plan.provider, plan.model)
    stored = store.hashes(plan.provider, plan.model)
    open_entries = journal.open_entries() if journal is not None else {}
    out = PlanStatus(status={}, experiment_id=exp_id)
    for r in plan.runs:
        key = journal_key(plan.provider, plan.model, r.request_hash)
        if not force and r.request_hash in done:
            out.status[r.index] = DONE
            out.done_run_ids[r.index] = done[r.request_hash]
        elif not force and r.request_hash in stored:
            out.status[r.index] = CACHED
        elif key in open_entries and plan.paid:
            entry = open_entries[key]
            out.journal[r.index] = entry
            out.status[r.index] = RESUME if entry.request_id else UNKNOWN
        else:
            out.status[r.index] = NEW
    return out
