"""What is already paid for: each planned run is new, already done (in MLflow), cached (in the
local store but not in MLflow), or has a ledger entry a crash or a failure left behind: resume
(billed, job id known), lost (billed, output not obtained), unknown (a submit's answer lost),
busy (another live process holds it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from veolab.experiment.plan import Plan, RunSpec
from veolab.runner import ledger as L
from veolab.runner.ledger import Entry, Ledger
from veolab.runner.videostore import VideoStore
from veolab.tracking.store import Tracker

NEW, DONE, CACHED, RESUME, UNKNOWN, LOST, BUSY = (
    "new",
    "done",
    "cached",
    "resume",
    "unknown",
    "lost",
    "busy",
)
STATUSES = (NEW, DONE, CACHED, RESUME, LOST, UNKNOWN, BUSY)


def run_key(provider: str, model: str, request_hash: str) -> str:
    """The ledger key of a sweep run: one purchase per request on one (host, model), whoever
    asks for it."""
    return f"{provider}/{model}/{request_hash}"


def host_of(plan: Plan, spec: RunSpec) -> tuple[str, str]:
    """The (provider, model) that makes ``spec``: its own, else the plan's."""
    return (spec.provider or plan.provider, spec.model or plan.model)


@dataclass
class PlanStatus:
    status: dict[int, str]  # run index -> one of STATUSES
    done_run_ids: dict[int, str] = field(default_factory=dict)
    entries: dict[int, Entry] = field(default_factory=dict)  # run index -> ledger entry
    experiment_id: str | None = None
    spent: float = 0.0  # the experiment's spend in the ledger, every invocation

    def count(self, kind: str) -> int:
        return sum(1 for s in self.status.values() if s == kind)

    def to_pay(self, plan: Plan) -> list[RunSpec]:
        return [r for r in plan.runs if self.status[r.index] in (NEW, UNKNOWN)]

    def ledger_state(self, index: int) -> str | None:
        e = self.entries.get(index)
        return e.state if e else None


def plan_status(
    plan: Plan,
    tracker: Tracker | None,
    store: VideoStore,
    ledger: Ledger | None,
    force: bool = False,
) -> PlanStatus:
    """One MLflow query for the whole plan, one look at the store, one at the ledger."""
    hosts = plan.hosts()  # (provider, model) of each run: each its own MLflow runs and store
    done: dict[tuple[str, str], dict[str, str]] = {h: {} for h in hosts}
    exp_id = None
    if tracker is not None and not force:
        exp_id = tracker.experiment_id(plan.experiment.name, create=False)
        if exp_id is not None:
            done = {h: tracker.finished_by_hash(exp_id, *h) for h in hosts}
    stored = {h: store.hashes(*h) for h in hosts}
    keys = {r.index: run_key(*host_of(plan, r), r.request_hash) for r in plan.runs}
    entries = ledger.entries(list(keys.values())) if ledger is not None else {}
    out = PlanStatus(status={}, experiment_id=exp_id)
    if ledger is not None:
        out.spent = ledger.spent(plan.experiment.name)
    me = ledger.owner if ledger is not None else None
    for r in plan.runs:
        host = host_of(plan, r)
        e = entries.get(keys[r.index])
        if e is not None:
            out.entries[r.index] = e
        if not force and r.request_hash in done[host]:
            out.status[r.index] = DONE
            out.done_run_ids[r.index] = done[host][r.request_hash]
        elif e is not None and e.owner != me and e.live:
            out.status[r.index] = BUSY
        elif not force and r.request_hash in stored[host]:
            out.status[r.index] = CACHED
        elif e is not None and e.state == L.SUBMITTED and e.job_id:
            out.status[r.index] = RESUME
        elif e is not None and e.state in (L.LOST, L.CORRUPT):
            out.status[r.index] = LOST
        elif e is not None and e.state == L.SENDING and plan.paid:
            out.status[r.index] = UNKNOWN
        else:
            out.status[r.index] = NEW
    return out
