"""Many workers, one sweep: the MLflow sweep run the workers of one plan share, in the ledger.

Any ``veolab run`` is a worker. Workers that run the same plan (the same experiment and the same
ledger keys) against one ledger log into **one** MLflow sweep run: the first opens it, the others
join it, and the last one out closes it, with the sweep's metrics summed over every worker. One
sweep run rather than one per worker under a shared parent: the runs table, ``compare``,
``report`` and ``results.json`` then read a team's sweep exactly as one machine's, and a
worker's share is still in each generation's ``veolab.host`` and ``veolab.pid`` tags.

    team = TeamSweep(ledger, sweep_key(experiment, keys), experiment)
    joined = team.join(create=lambda: tracker.create_run(...))   # opens it, or joins it
    if joined.created:
        ...                       # log the sweep's inputs, then
        team.opened()             # colleagues waiting in join() go on
    team.count(outcome, spend)    # after each run: the worker's share of the metrics
    if team.leave(wait=True):     # waits for live colleagues to finish; True: close the run
        ...                       # log totals(), terminate the MLflow run

Two tables (``ledger_db``): ``sweeps``, one row per plan, holds the open sweep run (``opening``
while its first worker creates it, ``open``, ``closed``); ``sweep_workers`` one row per worker
of a sweep run with its lease (renewed with its claims' leases), whether it has left, and its
counts. A sweep whose workers all died without leaving is stale: the next worker marks its run
KILLED (``Joined.stale``) and opens a new one. Every decision is taken in one transaction that
first locks the plan's row, so two workers never both open, or both close, one sweep.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veolab._fs import atomic_write_bytes
from veolab.errors import TrackingError
from veolab.runner.ledger import P_NOT_BILLED, Ledger, owner_alive
from veolab.runner.ledger_db import payments, sweep_workers, sweeps
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker

OPENING, OPEN, CLOSED = "opening", "open", "closed"
POLL = 0.25  # seconds between looks at a colleague opening or finishing the sweep
# a worker's outcome (runner.sweep's names) -> its column in sweep_workers
COUNTED = {
    "generated": "generated",
    "relogged": "relogged",
    "failed": "failed",
    "failed_checks": "check_failed",
    "skipped": "skipped",
}


def sweep_key(experiment: str, keys: Iterable[str]) -> str:
    """The plan's identity: its experiment and its runs' ledger keys (order does not matter)."""
    digest = hashlib.sha256(experiment.encode())
    for key in sorted(keys):
        digest.update(b"\n" + key.encode())
    return digest.hexdigest()[:40]


@dataclass
class Joined:
    run_id: str
    created: bool  # this worker opened it (it logs the sweep's inputs, then calls opened())
    stale: list[str] = field(default_factory=list)  # runs of a sweep whose workers all died
    colleagues: list[str] = field(default_factory=list)  # the live workers it joined


class TeamSweep:
    """This worker's place in the sweep run of one plan."""

    def __init__(self, ledger: Ledger, key: str, experiment: str) -> None:
        self.ledger, self.key, self.experiment = ledger, key, experiment
        self.engine = ledger.engine
        self.me = ledger.owner
        self.run_id: str | None = None
        self.opened_at = time.time()  # when the sweep run was opened (by whichever worker)

    # -- joining ----------------------------------------------------------------------------

    def join(
        self, create: Callable[[], str], on_wait: Callable[[str], None] | None = None
    ) -> Joined:
        """Join the plan's open sweep run, or open one with ``create()`` (an MLflow run id)."""
        self.ledger.on_renew.append(self._renew)
        self.ledger.keep_renewing()
        stale: list[str] = []
        waited = False
        while True:
            wait_for: str | None = None
            with self.engine.begin() as c:
                row = self._lock(c)
                now = time.time()
                if row["state"] == OPEN and row["run_id"]:
                    live = self._live(c, row["run_id"], now)
                    if live:
                        self._enter(c, row["run_id"], now)
                        self.run_id, self.opened_at = row["run_id"], row["created"]
                        return Joined(row["run_id"], False, stale, live)
                    leaving = self._live(c, row["run_id"], now, left=True)
                    if leaving:
                        wait_for = leaving[0]  # its last workers are closing it: then open anew
                    elif row["run_id"] not in stale:
                        stale.append(row["run_id"])  # its workers all died: it ends KILLED
                elif row["state"] == OPENING and row["owner"] != self.me:
                    if owner_alive(row["owner"], row["lease_until"], now):
                        wait_for = row["owner"]
                    elif row["run_id"] and row["run_id"] not in stale:
                        stale.append(row["run_id"])  # made by an opener that died
                if wait_for is None:
                    c.execute(
                        sweeps.update()
                        .where(sweeps.c.key == self.key)
                        .values(
                            state=OPENING,
                            run_id=None,
                            owner=self.me,
                            lease_until=now + self.ledger.lease,
                            created=now,
                            updated=now,
                        )
                    )
            if wait_for is None:
                break
            if on_wait is not None and not waited:
                on_wait(wait_for)
            waited = True
            time.sleep(POLL)
        try:
            run_id = create()
        except BaseException:
            self.ledger.on_renew.remove(self._renew)
            with self.engine.begin() as c:  # whoever comes next opens it
                c.execute(
                    sweeps.update()
                    .where(sweeps.c.key == self.key, sweeps.c.owner == self.me)
                    .values(state=CLOSED, owner=None, lease_until=None, updated=time.time())
                )
            raise
        self.opened_at = time.time()
        with self.engine.begin() as c:
            now = time.time()
            c.execute(
                sweeps.update().where(sweeps.c.key == self.key).values(run_id=run_id, updated=now)
            )
            self._enter(c, run_id, now)
        self.run_id = run_id
        return Joined(run_id, True, stale)

    def opened(self) -> None:
        """The opener has logged the sweep's inputs: colleagues waiting in join() go on."""
        with self.engine.begin() as c:
            c.execute(
                sweeps.update()
                .where(sweeps.c.key == self.key, sweeps.c.owner == self.me)
                .values(state=OPEN, owner=None, lease_until=None, updated=time.time())
            )

    def _lock(self, c: sa.Connection) -> Any:
        """The plan's row, locked until the transaction ends (made when missing)."""
        n = c.execute(
            sweeps.update().where(sweeps.c.key == self.key).values(version=sweeps.c.version + 1)
        ).rowcount
        if n == 0:
            now = time.time()
            try:
                with c.begin_nested():
                    c.execute(
                        sweeps.insert().values(
                            key=self.key,
                            experiment=self.experiment,
                            state=CLOSED,
                            version=1,
                            created=now,
                            updated=now,
                        )
                    )
            except sa.exc.IntegrityError:
                return self._lock(c)
        return c.execute(sa.select(sweeps).where(sweeps.c.key == self.key)).mappings().one()

    def _enter(self, c: sa.Connection, run_id: str, now: float) -> None:
        c.execute(
            sweep_workers.insert().values(
                run_id=run_id,
                owner=self.me,
                sweep_key=self.key,
                lease_until=now + self.ledger.lease,
                joined=now,
                generated=0,
                relogged=0,
                failed=0,
                check_failed=0,
                skipped=0,
                spend=0.0,
            )
        )

    def _live(self, c: sa.Connection, run_id: str, now: float, left: bool = False) -> list[str]:
        """The live workers of ``run_id`` but this one: those still in it, or (``left``) those
        that left it and wait for the others before closing it."""
        gone = sweep_workers.c.left.is_not(None) if left else sweep_workers.c.left.is_(None)
        rows = c.execute(
            sa.select(sweep_workers.c.owner, sweep_workers.c.lease_until).where(
                sweep_workers.c.run_id == run_id, gone, sweep_workers.c.owner != self.me
            )
        )
        return [owner for owner, lease in rows if owner_alive(owner, lease, now)]

    def _renew(self, c: sa.Connection, until: float) -> None:
        """Renewed with the claims (Ledger.renew): this worker's lease in the sweep, and the
        opening's while it makes the run."""
        if self.run_id is not None:
            c.execute(
                sweep_workers.update()
                .where(sweep_workers.c.run_id == self.run_id, sweep_workers.c.owner == self.me)
                .values(lease_until=until)
            )
        c.execute(
            sweeps.update()
            .where(sweeps.c.key == self.key, sweeps.c.owner == self.me)
            .values(lease_until=until)
        )

    # -- working ----------------------------------------------------------------------------

    def count(self, outcome: str, spend: float = 0.0) -> None:
        """One run this worker dealt with (an outcome of :data:`COUNTED`), and what it paid."""
        if self.run_id is None:
            return
        values: dict[str, Any] = {"spend": sweep_workers.c.spend + spend}
        if outcome in COUNTED:
            column = COUNTED[outcome]
            values[column] = getattr(sweep_workers.c, column) + 1
        with self.engine.begin() as c:
            c.execute(
                sweep_workers.update()
                .where(sweep_workers.c.run_id == self.run_id, sweep_workers.c.owner == self.me)
                .values(**values)
            )

    def totals(self) -> dict[str, float]:
        """Every worker's counts (by outcome) and ``workers``, summed, and ``spend``: what
        the workers' payments came to while they were in the sweep, from the ledger's payments
        (billed, or possibly billed), so a worker killed with jobs in flight counts too."""
        names = list(COUNTED)
        cols = [
            sa.func.coalesce(sa.func.sum(getattr(sweep_workers.c, COUNTED[n])), 0) for n in names
        ]
        w = sweep_workers
        amount = sa.func.coalesce(payments.c.billed, payments.c.estimate)
        spend = (
            sa.select(sa.func.coalesce(sa.func.sum(amount), 0.0))
            .select_from(payments.join(w, payments.c.owner == w.c.owner))
            .where(
                w.c.run_id == self.run_id,
                payments.c.experiment == self.experiment,
                payments.c.status != P_NOT_BILLED,
                payments.c.created >= w.c.joined,
                sa.or_(w.c.left.is_(None), payments.c.created <= w.c.left),
            )
        )
        with self.engine.begin() as c:
            row = c.execute(
                sa.select(*cols, sa.func.count()).where(w.c.run_id == self.run_id)
            ).one()
            spent = c.execute(spend).scalar_one()
        out = {name: float(v) for name, v in zip(names, row, strict=False)}
        out["spend"] = round(float(spent), 4)
        out["workers"] = float(row[-1])
        return out

    # -- leaving ----------------------------------------------------------------------------

    def leave(
        self, *, wait: bool = True, on_wait: Callable[[list[str]], None] | None = None
    ) -> bool:
        """Leave the sweep; True when this worker is the last one out and closes its run.
        With ``wait``, first wait for the live colleagues to leave (they are finishing: this
        worker saw every run of the plan done) or die (their leases run out)."""
        if self.run_id is None:
            return False
        run_id = self.run_id
        with self.engine.begin() as c:
            self._lock(c)
            c.execute(
                sweep_workers.update()
                .where(sweep_workers.c.run_id == run_id, sweep_workers.c.owner == self.me)
                .values(left=time.time())
            )
        said = False
        try:
            while True:
                with self.engine.begin() as c:
                    row = self._lock(c)
                    if row["run_id"] != run_id or row["state"] == CLOSED:
                        return False  # a colleague closed it
                    live = self._live(c, run_id, time.time())
                    if not live:
                        c.execute(
                            sweeps.update()
                            .where(sweeps.c.key == self.key)
                            .values(state=CLOSED, owner=None, updated=time.time())
                        )
                        return True
                if not wait:
                    return False
                if on_wait is not None and not said:
                    on_wait(live)
                said = True
                time.sleep(POLL)
        finally:
            if self._renew in self.ledger.on_renew:
                self.ledger.on_renew.remove(self._renew)


# -- the MLflow side: what colleagues logged --------------------------------------------------


def logged_here(tracker: Tracker, experiment_id: str, run_id: str) -> bool:
    """Whether ``run_id`` (a colleague's, from the ledger) is a FINISHED run of this experiment
    on this tracking store."""
    try:
        run = tracker.get_run(run_id)
    except TrackingError:
        return False  # not on this store (or deleted for good)
    info = run.info
    return (
        info.experiment_id == experiment_id
        and info.status == "FINISHED"
        and getattr(info, "lifecycle_stage", "active") == "active"
    )


def fetch_logged_video(tracker: Tracker, run_id: str, dest: Path) -> bool:
    """Put the video a colleague logged to ``run_id`` at ``dest``, with what the host said
    beside it (``dest``'s ``.json``, from the run's ``response.json``), as the video store keeps
    them; False when the run or its video cannot be read here."""
    with tempfile.TemporaryDirectory(prefix="veolab-fetch-") as tmp:
        try:
            video = tracker.download(run_id, S.ART_VIDEO, Path(tmp))
            try:
                meta = tracker.download(run_id, S.ART_RESPONSE, Path(tmp)).read_bytes()
            except TrackingError:
                meta = b"{}"
            data = video.read_bytes()
        except (TrackingError, OSError):
            return False
        atomic_write_bytes(dest.with_suffix(".json"), meta)
        atomic_write_bytes(dest, data)
    return True


def adopt_logged(
    tracker: Tracker, experiment_id: str, provider: str, model: str, request_hash: str
) -> str | None:
    """After taking a dead worker's claim over: its generation runs of this request left
    RUNNING are marked KILLED, and a FINISHED one (logged before it could tell the ledger) is
    returned, so it is not logged twice."""
    flt = (
        f"tags.`{S.KIND}` = '{S.KIND_GENERATION}' AND tags.`{S.REQUEST_HASH}` = '{request_hash}' "
        f"AND tags.`{S.PROVIDER}` = '{provider}' AND tags.`{S.MODEL}` = '{model}'"
    )
    finished = None
    for run in tracker.search(experiment_id, flt):
        if run.data.tags.get(S.RERUN_OF):
            continue
        if run.info.status == "RUNNING":
            tracker.terminate(run.info.run_id, "KILLED")
        elif run.info.status == "FINISHED" and finished is None:
            finished = run.info.run_id
    return finished


def kill_running(tracker: Tracker, experiment_id: str, parent_id: str) -> list[str]:
    """Mark KILLED the RUNNING generations of the sweep run ``parent_id``: called when every
    worker of the sweep has left or died, so nobody is logging them any more."""
    flt = f"attributes.status = 'RUNNING' AND tags.`{S.PARENT_RUN_ID}` = '{parent_id}'"
    killed = []
    for run in tracker.search(experiment_id, flt):
        tracker.terminate(run.info.run_id, "KILLED")
        killed.append(run.info.run_id)
    return killed


def close_stale_sweep(tracker: Tracker, experiment_id: str, run_id: str) -> None:
    """A sweep run whose workers all died: its RUNNING generations and itself end KILLED."""
    kill_running(tracker, experiment_id, run_id)
    try:
        status = tracker.get_run(run_id).info.status
    except TrackingError:
        return
    if status == "RUNNING":
        tracker.terminate(run_id, "KILLED")


__all__ = [
    "Joined",
    "TeamSweep",
    "adopt_logged",
    "close_stale_sweep",
    "fetch_logged_video",
    "kill_running",
    "logged_here",
    "sweep_key",
]
