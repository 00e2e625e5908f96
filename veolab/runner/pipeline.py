"""The one generation pipeline: every paid video goes through here, once.

    budget reservation -> ledger claim -> submit -> job id recorded -> poll -> download ->
    verify -> full decode (analysis) -> store -> (the caller logs to MLflow) -> ledger: logged

``veolab run``, ``veolab rerun`` and ``veolab generate`` build :class:`Job` s and call
:meth:`Custody.obtain`; what they do with the video afterwards (log a generation, compare it
with an original, write a file) is theirs. A job's ``key`` names it in the ledger: a sweep run is
``provider/model/request_hash`` (the same request is one purchase, whoever asks), a rerun or a
single generation is numbered (each is an intentional new purchase, still resumed after a crash).

What a claimed key's state means here (see ``veolab.runner.ledger``):

- ``submitted``: billed, job id known: fetch it by id (never submit again);
- ``lost`` / ``corrupt``: billed, output not obtained: fetch again by id; pay again only with
  ``repay_lost``;
- ``sending``: a submit may have been sent and billed, id unknown: pay again only with
  ``resubmit_unknown`` (on a free provider, always);
- ``stored`` (or the video already at its destination): no payment, analyse and log it;
- ``stored`` / ``logged`` by another machine, whose video is not here: its MLflow run's video
  (``Custody.logged_video``), else fetched again by job id; never paid again;
- ``new`` / ``failed``: pay.

A key is claimed only when a generation slot is free (``Custody.semaphore``), so a worker never
sits on requests it cannot work on yet: N workers over one ledger share a sweep's work. A key a
live colleague holds is left for later (the task gives its slot back and looks again every
``WAIT_POLL``); a dead colleague's claim is taken over (``Custody.adopt`` finds what it had
already logged).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veolab._fs import atomic_write_bytes, atomic_write_text
from veolab.errors import (
    AnalysisError,
    BudgetExceededError,
    GenerationFailedError,
    InvalidOutputError,
    OutcomeUnknownError,
    OutputNotObtainedError,
    ProviderError,
    VeolabError,
)
from veolab.providers import Provider, ProviderResult
from veolab.providers.phase import watch_phases
from veolab.request import VideoRequest
from veolab.runner import ledger as L
from veolab.runner.budget import Budget
from veolab.runner.ledger import Busy, Claim, Ledger
from veolab.tracking.traces import Timeline

WAIT_POLL = 0.5  # seconds between looks at a claim another process holds

# what Custody.on_state reports (for progress displays; the ledger's states are its own):
# waiting for another process's claim, in a slot with the host (submitting, polling or fetching
# by job id), verifying and decoding the video; a provider may report more ("downloading")
WAITING, GENERATING, ANALYSING = "waiting", "generating", "analysing"

# the generation's own times, kept with the video (its .json) and logged as its run's start
# and end: from the submit to the video in hand (a job fetched again by id: from its submit)
STARTED_AT, FINISHED_AT = "started_at", "finished_at"


class NotPaidAgain(VeolabError):
    """A run skipped because paying for it could pay twice: the user's flag decides."""


class InProgressElsewhere(NotPaidAgain):
    """Another live process holds this request (``--no-wait`` asked not to wait for it)."""


class UnknownNotRepaid(NotPaidAgain, OutcomeUnknownError):
    """A submit's outcome is unknown (it may be billed); ``--resubmit-unknown`` pays again."""


class LostNotRepaid(NotPaidAgain, OutputNotObtainedError):
    """Billed, output not obtained and not fetchable again; ``--repay-lost`` pays again."""


class DoneInThisSweep(NotPaidAgain):
    """Another worker of the same sweep already dealt with this request and did not obtain
    it (``state``: failed, lost, corrupt): it is not tried twice in one sweep."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


@dataclass
class Job:
    """One video to obtain."""

    key: str  # ledger key
    experiment: str  # budget scope in the ledger
    request: VideoRequest
    estimate: float
    dest: Path  # where the obtained video is kept (with a .json of what the host said)
    expectations: Any = None  # analysis.Expectations; from the request when None
    # what each stage took (claim, submit, queue, generate, download, verify, analyse, store):
    # the generation's trace (tracking.traces), written by whoever logs the job
    timeline: Timeline = field(default_factory=Timeline)


@dataclass
class Obtained:
    """A decoded, checked video in custody at ``path``."""

    video: bytes
    path: Path
    analysis: Any  # AnalysisResult
    result: ProviderResult | None
    cost: float  # billed USD (the estimate where the host did not say); 0.0 from the store
    meta: dict[str, Any]
    source: str  # generated | resumed | store
    done_elsewhere: str | None = None  # another process logged it (its MLflow run id)

    @property
    def started_at(self) -> float | None:
        """When the request was submitted (seconds since the epoch; None: not known)."""
        return self.meta.get(STARTED_AT)

    @property
    def finished_at(self) -> float | None:
        """When its video was in hand: downloaded, before it was verified and decoded."""
        return self.meta.get(FINISHED_AT)


@dataclass
class CustodyOptions:
    resubmit_unknown: bool = False
    repay_lost: bool = False
    wait: bool = True
    force: bool = False  # pay even when the destination already holds a video
    repay_hint: str = "--repay-lost pays again"  # how this command pays again for a lost video
    # an intentional purchase (rerun, generate) fetches a lost job again once, then gives it up
    give_up_lost: bool = False


@dataclass
class Custody:
    """The state shared by every job of one invocation."""

    provider: Provider
    ledger: Ledger
    paid: bool
    opts: CustodyOptions = field(default_factory=CustodyOptions)
    budget: Budget = field(default_factory=lambda: Budget(None))  # this invocation's --budget
    experiment_budget: float | None = None  # across every invocation, from the ledger
    thresholds: Any = None
    pool: Executor | None = None  # where decoding runs (default: asyncio's)
    semaphore: asyncio.Semaphore | None = None
    on_wait: Callable[[Job, str], None] | None = None
    quarantine: Path | None = None
    # progress only: on_state(job, state) as the job moves on (WAITING, GENERATING, ANALYSING,
    # and any phase the provider reports: "downloading"); in the event loop's thread; must not raise
    on_state: Callable[[Job, str], None] | None = None
    # the sweep (its MLflow run id) this custody works for: a key is marked dealt with by it,
    # and a key a colleague of the same sweep dealt with is not dealt with again
    attempt: str | None = None
    # whether a run another process logged (its MLflow run id) is in this experiment, FINISHED
    logged_here: Callable[[str], bool] | None = None
    # put the video of run_id (and its .json) at dest; False when it cannot
    logged_video: Callable[[str, Path], bool] | None = None
    # a dead owner's claim was taken over: the run it had already logged (MLflow run id), if any
    adopt: Callable[[Job], str | None] | None = None

    # -- the entry point --------------------------------------------------------------------

    async def obtain(self, job: Job, *, planned_state: str | None = None) -> Obtained:
        """The job's video, decoded and in custody, paying at most once for it. The claim is
        held until the caller calls :meth:`logged` (or :meth:`release`), so no other process
        logs it meanwhile.

        Raises BudgetExceededError, InProgressElsewhere, OutcomeUnknownError (a submit's
        outcome is unknown), OutputNotObtainedError (billed, output not obtained), or another
        ProviderError (failed, not billed)."""
        on_phase = (lambda phase: self._state(job, phase)) if self.on_state else None
        slot = _Slot(self.semaphore)
        with watch_phases(on_phase):
            try:
                await slot.acquire()  # claimed only when it can be worked on
                with job.timeline.span("claim") as stage:
                    claim = await self._claim(job, slot)
                    stage.attributes["state"] = claim.state
                try:
                    return await self._obtain(job, claim, planned_state, slot)
                except BaseException as exc:
                    # a host's verdict (failed, lost) is this sweep's: colleagues do not try
                    # again; a skip or an interruption leaves the key to whoever comes next
                    final = isinstance(exc, ProviderError | AnalysisError) and not isinstance(
                        exc, NotPaidAgain | OutcomeUnknownError
                    )
                    await asyncio.to_thread(
                        self.ledger.release, job.key, self.attempt if final else None
                    )
                    raise
            finally:
                slot.release()

    def _state(self, job: Job, state: str) -> None:
        if self.on_state is not None:
            self.on_state(job, state)

    async def _claim(self, job: Job, slot: _Slot) -> Claim:
        """The job's claim, taken with ``slot`` held; while a live colleague holds it, the
        slot goes back to the others and the claim is tried again every ``WAIT_POLL``."""
        waited = False
        while True:
            got = await asyncio.to_thread(self.ledger.claim, job.key, job.experiment)
            if isinstance(got, Claim):
                return got
            slot.release()
            if not self.opts.wait:
                raise InProgressElsewhere(
                    f"in progress in another process ({_owner(got)}); not waiting (--no-wait): "
                    "run again when it ends"
                )
            if not waited:
                self._state(job, WAITING)
                if self.on_wait is not None:
                    self.on_wait(job, _owner(got))
            waited = True
            await asyncio.sleep(WAIT_POLL)
            await slot.acquire()

    async def _obtain(
        self, job: Job, claim: Claim, planned_state: str | None, slot: _Slot
    ) -> Obtained:
        st = claim.state
        if self.attempt is not None and claim.attempt == self.attempt and not self.opts.force:
            slot.release()
            return self._dealt_with(job, claim)
        if claim.taken_over and st != L.LOGGED and self.adopt is not None:
            # its dead owner may have logged it before it could say so in the ledger
            run_id = await asyncio.to_thread(self.adopt, job)
            if run_id:
                slot.release()
                await asyncio.to_thread(self.ledger.logged, job.key, run_id)
                return Obtained(b"", job.dest, None, None, 0.0, {}, "store", run_id)
        if st == L.LOGGED and not self.opts.force and await self._logged_here(claim, planned_state):
            # logged (in this experiment) by another process since this one looked
            slot.release()
            return Obtained(b"", job.dest, None, None, 0.0, {}, "store", claim.run_id or "")
        if job.dest.is_file() and not self.opts.force:
            slot.release()
            got = await self._from_dest(job)
            if got is not None:
                return got
            await slot.acquire()
        if st in (L.STORED, L.LOGGED) and not self.opts.force:
            # obtained by another process (on another machine: its video is not here)
            got = await self._from_elsewhere(job, claim, slot)
            if got is not None:
                return got
        # obtained by another process whose video is not here: fetched again by job id (free),
        # never paid again (a free provider just generates it again)
        elsewhere = st in (L.STORED, L.LOGGED) and self.paid and not self.opts.force
        if (st in (L.SUBMITTED, L.LOST, L.CORRUPT) or elsewhere) and claim.job_id:
            try:
                return await self._resume(job, claim.job_id, slot)
            except ProviderError as exc:
                if st in (L.SUBMITTED, L.STORED, L.LOGGED) or isinstance(exc, OutcomeUnknownError):
                    raise
                if self.opts.give_up_lost:
                    await asyncio.to_thread(self.ledger.abandon, job.key, str(exc))
                if not self.opts.repay_lost:
                    raise LostNotRepaid(
                        f"{exc}; fetched again by job id and still not obtained; "
                        f"{self.opts.repay_hint}",
                        request_id=claim.job_id,
                    ) from exc
                # billed and lost again: the user asked to pay again
        elif st in (L.LOST, L.CORRUPT) and not self.opts.repay_lost:
            raise LostNotRepaid(
                f"billed, output not obtained: {claim.error or 'no job id to fetch it by'}"
                + (
                    ""
                    if self.opts.repay_hint in (claim.error or "")
                    else f"; {self.opts.repay_hint}"
                )
            )
        elif st == L.SENDING and self.paid and not self.opts.resubmit_unknown:
            raise UnknownNotRepaid(
                "outcome unknown: a submit was sent and its answer lost (it may be billed); "
                "--resubmit-unknown pays again"
            )
        elif elsewhere:
            raise LostNotRepaid(
                "billed and obtained by another process, but its video is neither in MLflow "
                f"nor fetchable by job id here; {self.opts.repay_hint}"
            )
        return await self._pay(job, slot)

    def _dealt_with(self, job: Job, claim: Claim) -> Obtained:
        """The key a colleague of this sweep already dealt with: its run, or why it has none."""
        if claim.state == L.LOGGED:
            return Obtained(b"", job.dest, None, None, 0.0, {}, "store", claim.run_id or "")
        raise DoneInThisSweep(
            f"{claim.state} in this sweep by another worker: {claim.error or 'no video'}",
            claim.state,
        )

    async def _logged_here(self, claim: Claim, planned_state: str | None) -> bool:
        """Whether a ``logged`` key is logged where this custody logs (then nothing to do)."""
        if self.logged_here is None or not claim.run_id:
            # the plan did not see it done: it was logged since (by another process)
            return planned_state != L.LOGGED
        return await asyncio.to_thread(self.logged_here, claim.run_id)

    async def _from_elsewhere(self, job: Job, claim: Claim, slot: _Slot) -> Obtained | None:
        """A video another process logged to MLflow, downloaded to ``job.dest`` and checked
        like a stored one (None: not there, or not usable)."""
        if not claim.run_id or self.logged_video is None:
            return None
        slot.release()
        fetched = await asyncio.to_thread(self.logged_video, claim.run_id, job.dest)
        got = await self._from_dest(job) if fetched and job.dest.is_file() else None
        if got is None:
            await slot.acquire()
        return got

    # -- the three ways to a video ----------------------------------------------------------

    async def _from_dest(self, job: Job) -> Obtained | None:
        """The video already kept at ``job.dest`` (None when it turns out corrupt)."""
        video = await asyncio.to_thread(job.dest.read_bytes)
        meta_path = job.dest.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        try:
            analysis = await self._analyse(job, video)
        except AnalysisError as exc:
            where = self._quarantine(job, video)
            job.dest.unlink(missing_ok=True)
            await asyncio.to_thread(
                self.ledger.lost,
                job.key,
                f"stored video is corrupt ({exc}); moved to {where}",
                corrupt=True,
            )
            return None
        await asyncio.to_thread(self.ledger.stored, job.key)
        return Obtained(video, job.dest, analysis, None, 0.0, meta, "store")

    async def _resume(self, job: Job, job_id: str, slot: _Slot) -> Obtained:
        """Fetch an accepted (billed) job by its id: poll, download. Never a new payment."""
        resumed = time.time()
        try:
            await slot.acquire()
            self._state(job, GENERATING)
            try:
                result = await self.provider.resume(job.request, job_id)
            finally:
                slot.release()
        except BaseException as exc:
            job.timeline.add("resume", resumed, time.time(), error=_failure(exc), job_id=job_id)
            if not isinstance(exc, ProviderError) or isinstance(
                exc, GenerationFailedError | OutcomeUnknownError
            ):
                raise
            await asyncio.to_thread(self.ledger.lost, job.key, str(exc))
            raise _billed_error(exc, job_id) from exc
        job.timeline.add("resume", resumed, time.time(), job_id=job_id)
        span = (await asyncio.to_thread(self._submitted_at, job.key), time.time())
        cost = result.cost if result.cost is not None else job.estimate
        return await self._keep(job, result, cost, "resumed", span)

    def _submitted_at(self, key: str) -> float | None:
        """When the ledger's latest payment for ``key`` (the job now fetched by id) was sent."""
        sent = [p for p in self.ledger.payments_of(key) if p["status"] != L.P_NOT_BILLED]
        return sent[-1]["created"] if sent else None

    async def _pay(self, job: Job, slot: _Slot) -> Obtained:
        # in the slot: a run waiting for one has sent nothing, and says so after a crash
        await slot.acquire()
        self._state(job, GENERATING)
        try:
            result, cost, span = await self._submit(job)
        finally:
            slot.release()
        return await self._keep(job, result, cost, "generated", span)

    async def _submit(self, job: Job) -> tuple[ProviderResult, float, tuple[float, float]]:
        reserved = job.estimate if self.paid else 0.0
        if not self.budget.reserve(reserved):
            raise BudgetExceededError(
                f"budget ${self.budget.limit:.2f} (--budget): ${self.budget.committed:.2f} "
                f"spent or reserved, next run ${reserved:.2f}; raise --budget to continue"
            )
        try:
            payment = await asyncio.to_thread(
                self.ledger.begin_payment,
                job.key,
                job.experiment,
                reserved,
                self.experiment_budget if self.paid else None,
            )
        except BaseException:
            self.budget.release(reserved)
            raise
        accepted: list[str] = []

        accepted_at: list[float] = []

        def on_submitted(job_id: str) -> None:
            accepted_at.append(time.time())
            accepted.append(job_id)
            self.ledger.submitted(job.key, payment, job_id)

        started = time.time()
        try:
            try:
                result = await self.provider.generate(job.request, on_submitted=on_submitted)
            except OutcomeUnknownError as exc:
                self.budget.settle(reserved, None)  # it may be billed: count it
                exc.billed_cost = reserved  # type: ignore[attr-defined]
                if exc.request_id and not accepted:
                    await asyncio.to_thread(self.ledger.submitted, job.key, payment, exc.request_id)
                raise
            except ProviderError as exc:
                billed = (bool(accepted) or isinstance(exc, OutputNotObtainedError)) and not (
                    isinstance(exc, GenerationFailedError)
                )
                if not billed:
                    self.budget.release(reserved)
                    await asyncio.to_thread(
                        self.ledger.not_billed, job.key, payment, f"{type(exc).__name__}: {exc}"
                    )
                    raise
                self.budget.settle(reserved, None)
                job_id = accepted[0] if accepted else exc.request_id
                await asyncio.to_thread(self.ledger.billed, job.key, payment, None, job_id)
                await asyncio.to_thread(self.ledger.lost, job.key, str(exc))
                err = _billed_error(exc, job_id)
                err.billed_cost = reserved  # type: ignore[attr-defined]
                if err is exc:
                    raise
                raise err from exc
            except BaseException:
                # cancelled, interrupted or crashed in flight: the ledger keeps the job for resume
                self.budget.settle(reserved, None)
                raise
        except BaseException as exc:
            job_id = accepted[0] if accepted else getattr(exc, "request_id", None)
            job.timeline.add(
                "submit", started, time.time(), error=_failure(exc), job_id=job_id or ""
            )
            raise
        _host_stages(job.timeline, started, accepted_at, result)
        span = (started, time.time())
        cost = (result.cost if result.cost is not None else reserved) if self.paid else 0.0
        self.budget.settle(reserved, cost)
        await asyncio.to_thread(self.ledger.billed, job.key, payment, cost, result.request_id)
        return result, cost, span

    # -- verify, decode, keep ---------------------------------------------------------------

    async def _keep(
        self,
        job: Job,
        result: ProviderResult,
        cost: float,
        source: str,
        span: tuple[float | None, float],
    ) -> Obtained:
        from veolab.providers import verify_mp4

        try:
            with job.timeline.span("verify") as stage:
                video = result.video_bytes()
                stage.attributes["bytes"] = len(video)
                verify_mp4(video)
            analysis = await self._analyse(job, video)
        except (InvalidOutputError, AnalysisError, ValueError, OSError) as exc:
            if not self.paid:  # nothing was paid: say what is wrong, keep nothing aside
                msg = str(exc)
            else:
                where = self._quarantine(job, result.video) if result.video else None
                msg = (
                    f"billed, but the video is corrupt ({exc})"
                    + (f"; kept aside at {where}" if where else "")
                    + f"; {self.opts.repay_hint}"
                )
            await asyncio.to_thread(self.ledger.lost, job.key, msg, corrupt=True)
            err = OutputNotObtainedError(msg, request_id=result.request_id)
            if source == "generated":
                err.billed_cost = cost  # type: ignore[attr-defined]
            raise err from exc
        meta = {
            **result.metadata,
            "cost": cost,
            "seed": result.seed,
            "request_id": result.request_id,
        }
        if span[0] is not None:
            meta[STARTED_AT], meta[FINISHED_AT] = span
        with job.timeline.span("store"):
            await asyncio.to_thread(_write_kept, job.dest, video, meta)
            await asyncio.to_thread(self.ledger.stored, job.key)
        return Obtained(video, job.dest, analysis, result, cost, meta, source)

    async def _analyse(self, job: Job, video: bytes) -> Any:
        """:meth:`_decode`, recorded as the stage ``analyse`` with the checks' verdict."""
        with job.timeline.span("analyse") as stage:
            analysis = await self._decode(job, video)
            failed = [c.name for c in analysis.checks if not c.passed]
            stage.attributes.update(checks_passed=not failed, failed_checks=",".join(failed))
        return analysis

    async def _decode(self, job: Job, video: bytes) -> Any:
        from veolab.analysis import Expectations, analyze_video

        expectations = job.expectations or Expectations.from_request(job.request)
        self._state(job, ANALYSING)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool,
            lambda: analyze_video(video, expectations=expectations, thresholds=self.thresholds),
        )

    def _quarantine(self, job: Job, video: bytes) -> Path | None:
        if self.quarantine is None:
            from veolab._fs import veolab_home

            self.quarantine = veolab_home() / "quarantine"
        # .bad: whatever it is, it is not presented as a video
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", job.key) + f"-{int(time.time())}.bad"
        try:
            return atomic_write_bytes(self.quarantine / name, video)
        except OSError:
            return None

    # -- after the caller logged it ---------------------------------------------------------

    async def logged(self, job: Job, run_id: str | None) -> None:
        """The caller logged the video (``run_id``): the job is done; the claim is released."""
        await asyncio.to_thread(self.ledger.logged, job.key, run_id)
        await self.release(job)

    async def release(self, job: Job) -> None:
        """Give the claim back, marked dealt with by this sweep."""
        await asyncio.to_thread(self.ledger.release, job.key, self.attempt)


class _Slot:
    """One of the semaphore's places (none: no limit), held or not; acquire and release are
    idempotent, so each path gives it back exactly once."""

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self.semaphore, self.held = semaphore, False

    async def acquire(self) -> None:
        if self.semaphore is not None and not self.held:
            await self.semaphore.acquire()
            self.held = True

    def release(self) -> None:
        if self.semaphore is not None and self.held:
            self.held = False
            self.semaphore.release()


def numbered_keys(ledger: Ledger, prefix: str, count: int) -> list[str]:
    """``count`` ledger keys for intentional purchases (reruns, single generations) under
    ``prefix``: first the ones an interrupted earlier invocation left billed but not finished
    (a job id to poll or to fetch again, or a video kept but not logged: resumed, never paid
    again), then new numbers. A lost job fetched again in vain is given up (``abandoned``, its
    spend counted), as is a corrupt one: asking again then is an intentional new purchase."""
    entries = ledger.entries(prefix=prefix)
    resumable = [
        k
        for k, e in sorted(entries.items(), key=lambda kv: _number(kv[0], prefix))
        if not e.live and (e.state == L.STORED or (e.state in (L.SUBMITTED, L.LOST) and e.job_id))
    ][:count]
    last = max((_number(k, prefix) for k in entries), default=0)
    return resumable + [f"{prefix}{last + i + 1}" for i in range(count - len(resumable))]


def _number(key: str, prefix: str) -> int:
    tail = key[len(prefix) :]
    return int(tail) if tail.isdigit() else 0


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _host_stages(
    timeline: Timeline, started: float, accepted_at: list[float], result: ProviderResult
) -> None:
    """The stages of a generation the host ran: ``submit`` until it accepted the job, then its
    own queue, generate and download times (``ProviderResult.timings``) end to end, up to now."""
    now = time.time()
    accepted = min(accepted_at[0], now) if accepted_at else started
    timeline.add("submit", started, accepted, job_id=result.request_id or "")
    t, cursor = result.timings, accepted
    for name, secs in (
        ("queue", t.queued),
        ("generate", t.generating),
        ("download", t.downloading),
    ):
        if secs and secs > 0:
            end = min(now, cursor + secs)
            attrs: dict[str, Any] = {"seed": result.seed} if name == "generate" else {}
            timeline.add(name, cursor, end, **attrs)
            cursor = end


def _write_kept(dest: Path, video: bytes, meta: dict[str, Any]) -> None:
    """The metadata, then the video (the video's presence means both are complete)."""
    atomic_write_text(
        dest.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True, default=str)
    )
    atomic_write_bytes(dest, video)


def _owner(busy: Busy) -> str:
    host, _, rest = busy.owner.partition(":")
    pid = rest.split(":")[0] if rest else ""
    return f"pid {pid} on {host}" if pid else busy.owner


def _billed_error(exc: ProviderError, job_id: str | None) -> OutputNotObtainedError:
    if isinstance(exc, OutputNotObtainedError):
        return exc
    msg = str(exc)
    if not msg.startswith("billed"):
        msg = f"billed, but the output could not be obtained ({type(exc).__name__}: {msg}); " + (
            "the next run fetches it again by job id" if job_id else "--repay-lost pays again"
        )
    return OutputNotObtainedError(msg, request_id=job_id)


__all__ = [
    "Custody",
    "CustodyOptions",
    "DoneInThisSweep",
    "InProgressElsewhere",
    "Job",
    "NotPaidAgain",
    "Obtained",
    "numbered_keys",
]
