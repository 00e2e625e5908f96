"""The ledger: custody of every paid request, shared by every process that runs veolab.

One SQL database (SQLite at ``$VEOLAB_HOME/ledger.db`` by default; a team's PostgreSQL, or any
SQLAlchemy URL, through ``VEOLAB_LEDGER_URI``) through SQLAlchemy Core: the same statements on
every database. Its tables, URL and migrations are ``veolab.runner.ledger_db``'s.

    ledger = Ledger()
    got = ledger.claim("segmind/veo-3.1/3f2a...", "market-ab")
    got.state if isinstance(got, Claim) else got.owner
    # -> 'new'

Two tables:

``claims``, one row per request key (``provider/model/request_hash`` for a sweep run): who holds
it (``owner`` = ``host:pid:start``, with a ``lease_until`` renewed while the owner works), and
what happened to it, the custody state::

    new ──> sending ──> submitted ──> stored ──> logged
              │  │          │
              │  │          └──> lost / corrupt   billed, output not obtained (job id kept)
              │  └──> failed                       the host refused it: not billed
              └──> (owner gone)  outcome unknown   a submit may have been sent and billed

``payments``, one row per submit ever sent: its estimate, what the host billed, and whether it
was billed (``sending`` = unknown, counted as spent). Spend is the sum of this table; nothing
ever deletes a row, so billed spend is always counted.

A claim is taken with one conditional UPDATE (compare-and-set on ``owner``), or one INSERT
for a request nobody claimed yet (a concurrent INSERT of the same key fails on the primary key),
so two processes never hold one request, on any machine. A claim whose owner is dead (its pid
gone on this host, or its lease expired anywhere: ``VEOLAB_LEASE_SECONDS``, 90 s by default,
renewed every sixth of it) may be taken over. A payment starts inside one transaction that
first locks the experiment's row in ``budgets`` (PostgreSQL: a row lock; SQLite: the database's
write lock), sums its spend and inserts the payment, so the experiment's budget holds across
every process of every machine.

The host in an owner token is the machine's name, or ``VEOLAB_HOSTNAME`` where machines share
one (containers started with the same ``--hostname``): a pid is only judged on its own host.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veolab._host import HOST_ENV, host_name
from veolab.errors import BudgetExceededError
from veolab.runner.ledger_db import (
    LEASE_SECONDS,
    LEDGER_ENV,
    budgets,
    claims,
    existing_ledger,
    lease_seconds,
    ledger_url,
    metadata,
    open_engine,
    payments,
    safe_url,
)

# custody states of a claim
NEW, SENDING, SUBMITTED, STORED, LOGGED, FAILED, LOST, CORRUPT, ABANDONED = (
    "new",
    "sending",
    "submitted",
    "stored",
    "logged",
    "failed",
    "lost",
    "corrupt",
    "abandoned",  # billed, output lost, fetched again in vain: an intentional purchase gave up
)
BILLED_STATES = (SUBMITTED, STORED, LOGGED, LOST, CORRUPT, ABANDONED)
# payment status
P_SENDING, P_BILLED, P_NOT_BILLED = "sending", "billed", "not_billed"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == "0" or _start_time(pid) in (start, "0")


def owner_token() -> str:
    pid = os.getpid()
    return f"{host_name()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str | None, lease_until: float | None, now: float | None = None) -> bool:
    """Whether ``owner`` still holds its claim: on this host, while its process lives; on
    another host, while its lease runs."""
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) == 3 and parts[0] == host_name():
        try:
            return _pid_alive(int(parts[1]), parts[2])
        except ValueError:
            pass
    return (lease_until or 0.0) > (now if now is not None else time.time())


@dataclass(frozen=True)
class Claim:
    """This process holds ``key``; ``state`` and ``job_id`` say what happened to it so far.
    ``taken_over`` names the dead owner whose claim this was."""

    key: str
    state: str
    job_id: str | None
    error: str | None
    run_id: str | None
    taken_over: str | None = None
    attempt: str | None = None  # the sweep (MLflow run id) that last dealt with it

    @property
    def unknown(self) -> bool:
        """A submit may have been sent and billed, and nobody knows its job id."""
        return self.state == SENDING


@dataclass(frozen=True)
class Busy:
    """Another live process holds ``key``."""

    key: str
    owner: str
    state: str


@dataclass(frozen=True)
class Entry:
    key: str
    experiment: str
    state: str
    job_id: str | None
    error: str | None
    owner: str | None
    lease_until: float | None
    run_id: str | None

    @property
    def live(self) -> bool:
        return owner_alive(self.owner, self.lease_until)


class Ledger:
    """The custody ledger of one database. Thread-safe; every method is one transaction."""

    def __init__(self, url: str | None = None) -> None:
        self.url = ledger_url(url)
        self.lease = lease_seconds()
        self.engine = open_engine(self.url)  # the schema at head (migrations run here)
        self.owner = owner_token()
        if url is None and not os.environ.get(LEDGER_ENV):
            self._import_journal()
        self._held: set[str] = set()
        self._held_lock = threading.Lock()
        # more leases renewed with the claims' (a sweep membership: runner/team.py)
        self.on_renew: list[Any] = []
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _import_journal(self) -> None:
        """Carry the open entries of wave 1's submit journal over, once (then it is renamed)."""
        import sqlite3

        from veolab._fs import veolab_home

        path = veolab_home() / "journal.db"
        if not path.is_file():
            return
        try:
            db = sqlite3.connect(str(path))
            rows = db.execute(
                "SELECT key, experiment, state, request_id, error FROM submits "
                "WHERE state IN ('sending','submitted')"
            ).fetchall()
            db.close()
        except sqlite3.Error:
            return
        now = time.time()
        with self.engine.begin() as c:
            for key, experiment, _state, job_id, error in rows:
                if c.execute(sa.select(claims.c.key).where(claims.c.key == key)).first():
                    continue
                c.execute(
                    claims.insert().values(
                        key=key,
                        experiment=experiment,
                        state=SUBMITTED if job_id else SENDING,
                        job_id=job_id,
                        error=error,
                        created=now,
                        updated=now,
                    )
                )
                c.execute(
                    payments.insert().values(
                        key=key,
                        experiment=experiment,
                        status=P_BILLED if job_id else P_SENDING,
                        job_id=job_id,
                        estimate=0.0,
                        created=now,
                        updated=now,
                    )
                )
        path.rename(path.with_name("journal.db.imported"))

    def _safe_url(self) -> str:
        return safe_url(self.url)

    # -- claims -----------------------------------------------------------------------------

    def claim(self, key: str, experiment: str) -> Claim | Busy:
        """Take ``key`` for this process, or say who holds it. Atomic across processes."""
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(sa.select(claims).where(claims.c.key == key)).mappings().first()
            if row is None:
                values = {
                    "key": key,
                    "experiment": experiment,
                    "state": NEW,
                    "owner": self.owner,
                    "lease_until": now + self.lease,
                    "created": now,
                    "updated": now,
                }
                if self._insert_new(c, values):
                    self._hold(key)
                    return Claim(key, NEW, None, None, None)
                # another machine inserted it since we looked (PostgreSQL: its INSERT committed
                # while ours waited on the key): it holds it now
                row = c.execute(sa.select(claims).where(claims.c.key == key)).mappings().first()
                return Busy(key, (row and row["owner"]) or "another process", NEW)
            prev = row["owner"]
            if prev and prev != self.owner and owner_alive(prev, row["lease_until"], now):
                return Busy(key, prev, row["state"])
            # compare-and-set: only if nobody else took it since we read it
            owner_cond = claims.c.owner.is_(None) if prev is None else claims.c.owner == prev
            got = c.execute(
                claims.update()
                .where(claims.c.key == key, owner_cond)
                .values(owner=self.owner, lease_until=now + self.lease, updated=now)
            ).rowcount
            if got != 1:
                return Busy(key, "another process", row["state"])
        self._hold(key)
        return Claim(
            key,
            row["state"],
            row["job_id"],
            row["error"],
            row["run_id"],
            taken_over=prev if prev and prev != self.owner else None,
            attempt=row["attempt"],
        )

    @staticmethod
    def _insert_new(c: sa.Connection, values: dict[str, Any]) -> bool:
        """Insert a claim row unless the key is there already (one statement where the
        database has INSERT ... ON CONFLICT DO NOTHING RETURNING); whether it was inserted."""
        name = c.dialect.name
        version = c.dialect.server_version_info or (0,)
        if name == "postgresql" or (name == "sqlite" and version >= (3, 35)):
            from sqlalchemy.dialects import postgresql, sqlite

            insert = postgresql.insert if name == "postgresql" else sqlite.insert
            stmt = insert(claims).values(**values).on_conflict_do_nothing(index_elements=["key"])
            return c.execute(stmt.returning(claims.c.key)).first() is not None
        try:
            with c.begin_nested():
                c.execute(claims.insert().values(**values))
        except sa.exc.IntegrityError:
            return False
        return True

    def release(self, key: str, attempt: str | None = None) -> None:
        """Give ``key`` back (its state stays for whoever comes next); ``attempt`` marks it
        dealt with by that sweep (its MLflow run id), for the sweep's other workers."""
        values: dict[str, Any] = {"owner": None, "lease_until": None, "updated": time.time()}
        if attempt is not None:
            values["attempt"] = attempt
        with self.engine.begin() as c:
            c.execute(
                claims.update()
                .where(claims.c.key == key, claims.c.owner == self.owner)
                .values(**values)
            )
        with self._held_lock:
            self._held.discard(key)

    def _hold(self, key: str) -> None:
        with self._held_lock:
            self._held.add(key)
        self.keep_renewing()

    def keep_renewing(self) -> None:
        """Start the thread that renews this process's leases (once)."""
        with self._held_lock:
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name="veolab-ledger-lease", daemon=True
                )
                self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 6):
            with self._held_lock:
                if not self._held and not self.on_renew:
                    continue
            try:
                self.renew()
            except sa.exc.SQLAlchemyError:
                pass  # the next round tries again; the lease is six rounds long

    def renew(self) -> None:
        """Renew the leases of every claim this process holds (and ``on_renew``'s)."""
        until = time.time() + self.lease
        with self.engine.begin() as c:
            c.execute(claims.update().where(claims.c.owner == self.owner).values(lease_until=until))
            for hook in list(self.on_renew):
                hook(c, until)

    def _set(self, key: str, **values: Any) -> None:
        values["updated"] = time.time()
        with self.engine.begin() as c:
            c.execute(claims.update().where(claims.c.key == key).values(**values))

    # -- payments ---------------------------------------------------------------------------

    def begin_payment(
        self, key: str, experiment: str, estimate: float, limit: float | None = None
    ) -> int:
        """Record a submit about to be sent (state ``sending``), within the experiment's
        ``limit`` of spent-or-reserved USD across every process; returns the payment id."""
        now = time.time()
        with self.engine.begin() as c:
            self._lock_budget(c, experiment)
            if limit is not None:
                spent = self._spent(c, experiment)
                if spent + estimate > limit + 1e-9:
                    raise BudgetExceededError(
                        f"budget ${limit:.2f} of experiment {experiment}: ${spent:.2f} spent or "
                        f"reserved, next run ${estimate:.2f}; raise budget: in the experiment "
                        "file to continue"
                    )
            inserted = c.execute(
                payments.insert().values(
                    key=key,
                    experiment=experiment,
                    status=P_SENDING,
                    estimate=estimate,
                    owner=self.owner,
                    created=now,
                    updated=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            pid = inserted[0]
            c.execute(
                claims.update()
                .where(claims.c.key == key)
                .values(state=SENDING, job_id=None, error=None, run_id=None, updated=now)
            )
        return int(pid)

    def _lock_budget(self, c: sa.Connection, experiment: str) -> None:
        # an UPDATE takes the row's lock (SQLite: the database's write lock) until commit
        n = c.execute(
            budgets.update()
            .where(budgets.c.experiment == experiment)
            .values(version=budgets.c.version + 1)
        ).rowcount
        if n == 0:
            try:
                with c.begin_nested():
                    c.execute(budgets.insert().values(experiment=experiment, version=1))
            except sa.exc.IntegrityError:
                self._lock_budget(c, experiment)

    @staticmethod
    def _spent(c: sa.Connection, experiment: str) -> float:
        amount = sa.func.coalesce(payments.c.billed, payments.c.estimate)
        total = c.execute(
            sa.select(sa.func.coalesce(sa.func.sum(amount), 0.0)).where(
                payments.c.experiment == experiment, payments.c.status != P_NOT_BILLED
            )
        ).scalar_one()
        return round(float(total), 4)

    def spent(self, experiment: str) -> float:
        """USD billed (or possibly billed) for ``experiment`` by every process, ever."""
        with self.engine.begin() as c:
            return self._spent(c, experiment)

    def submitted(self, key: str, payment: int, job_id: str) -> None:
        """The host accepted the submit and named the job: billed from here on."""
        now = time.time()
        with self.engine.begin() as c:
            c.execute(
                payments.update()
                .where(payments.c.id == payment)
                .values(status=P_BILLED, job_id=job_id, updated=now)
            )
            c.execute(
                claims.update()
                .where(claims.c.key == key)
                .values(state=SUBMITTED, job_id=job_id, updated=now)
            )

    def billed(self, key: str, payment: int, amount: float | None, job_id: str | None) -> None:
        """What the host billed for a payment (``amount`` None keeps the estimate)."""
        values: dict[str, Any] = {"status": P_BILLED, "updated": time.time()}
        if amount is not None:
            values["billed"] = amount
        if job_id:
            values["job_id"] = job_id
        with self.engine.begin() as c:
            c.execute(payments.update().where(payments.c.id == payment).values(**values))
            if job_id:
                c.execute(claims.update().where(claims.c.key == key).values(job_id=job_id))

    def not_billed(self, key: str, payment: int, error: str) -> None:
        """The host refused the submit or failed the job: nothing is owed."""
        now = time.time()
        with self.engine.begin() as c:
            c.execute(
                payments.update()
                .where(payments.c.id == payment)
                .values(status=P_NOT_BILLED, updated=now)
            )
            c.execute(
                claims.update()
                .where(claims.c.key == key)
                .values(state=FAILED, error=error[:1000], updated=now)
            )

    def lost(self, key: str, error: str, *, corrupt: bool = False) -> None:
        """Billed, but the output was not obtained (or arrived corrupt)."""
        self._set(key, state=CORRUPT if corrupt else LOST, error=error[:1000])

    def abandon(self, key: str, error: str) -> None:
        """Billed, lost, and fetched again in vain: not tried again (its spend stays)."""
        self._set(key, state=ABANDONED, error=error[:1000])

    def stored(self, key: str) -> None:
        self._set(key, state=STORED, error=None)

    def logged(self, key: str, run_id: str | None) -> None:
        self._set(key, state=LOGGED, run_id=run_id, error=None)

    # -- reading ----------------------------------------------------------------------------

    def entries(self, keys: list[str] | None = None, prefix: str | None = None) -> dict[str, Entry]:
        """The claims of ``keys`` (or every key, or those under ``prefix``), looked up in sets:
        on PostgreSQL ``key = ANY(array)`` of 50,000 keys a statement, elsewhere ``key IN``
        500 at a time (a 100,000-run plan: 2 statements, or 200)."""
        q = sa.select(
            claims.c.key,
            claims.c.experiment,
            claims.c.state,
            claims.c.job_id,
            claims.c.error,
            claims.c.owner,
            claims.c.lease_until,
            claims.c.run_id,
        )
        if prefix is not None:
            q = q.where(claims.c.key.startswith(prefix, autoescape=True))
        out: dict[str, Entry] = {}
        with self.engine.begin() as c:
            if keys is None:
                rows = list(c.execute(q))
            elif c.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import ARRAY

                rows = []
                for i in range(0, len(keys), 50_000):
                    chunk = sa.bindparam("keys", keys[i : i + 50_000], type_=ARRAY(sa.String))
                    rows += list(c.execute(q.where(claims.c.key == sa.any_(chunk))))
            else:
                rows = []
                for i in range(0, len(keys), 500):
                    rows += list(c.execute(q.where(claims.c.key.in_(keys[i : i + 500]))))
        for r in rows:
            out[r[0]] = Entry(*r)
        return out

    def payments_of(self, key: str) -> list[dict[str, Any]]:
        with self.engine.begin() as c:
            return [
                dict(r)
                for r in c.execute(
                    sa.select(payments).where(payments.c.key == key).order_by(payments.c.id)
                ).mappings()
            ]

    def close(self) -> None:
        self._stop.set()
        with self._held_lock:
            held = list(self._held)
        for key in held:
            try:
                self.release(key)
            except sa.exc.SQLAlchemyError:
                pass
        self.engine.dispose()


__all__ = [
    "BILLED_STATES",
    "LEASE_SECONDS",
    "Busy",
    "Claim",
    "HOST_ENV",
    "Entry",
    "Ledger",
    "existing_ledger",
    "host_name",
    "ledger_url",
    "metadata",
    "owner_alive",
    "owner_token",
]
