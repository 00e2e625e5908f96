"""Run a plan: pay for what is new, never twice, and log everything to MLflow.

    result = run_plan(plan)
    result.exit_code, result.counts

The library never prompts. On a paid provider, a plan whose estimated spend is above
``confirm_above`` (the experiment's, or ``RunOptions.confirm_above``) raises
:class:`~veolab.errors.SpendNotConfirmedError` before anything is created or paid, unless
``RunOptions(yes=True)``; ``RunOptions(budget=...)`` caps what this call spends, as ``--budget``
does. A plan whose runs are all already done creates nothing (no empty sweep run in MLflow)
unless ``RunOptions(log_empty=True)``: ``result.nothing_to_do`` says so.

``on_event(kind, spec, outcome)`` follows each run: ``start`` (queued), then the states it
passes through (:data:`STATES`: ``waiting`` for another process, ``generating``,
``downloading`` where the provider says so, ``analysing``, ``logging``), then ``end`` with its
:class:`RunOutcome`. A run already done has only its ``end``. Events come from the thread that
runs the sweep's event loop.

Generation runs under a concurrency limit; analysis and logging run in worker threads after a
generation's slot is released, so they overlap the waiting for the next videos instead of
following it. Every run goes through the one pipeline (``veolab.runner.pipeline``): ledger
claim -> budget -> submit -> job id -> download -> verify -> decode -> local store -> MLflow. A
failure after the store never loses the video: the next run re-logs it.

Any number of ``run_plan`` calls (processes, machines) of one plan over one ledger are the
workers of one sweep (``veolab.runner.team``): they share its MLflow sweep run and its work (a
request is claimed by one worker when it has a free slot; the others move on, and wait for it
at the end), and each ends when the whole plan is done. The last one out closes the sweep run
with every worker's counts; a run another worker dealt with is ``already_done`` here
(``RunOutcome.elsewhere``), or failed or skipped with that worker's reason.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veolab.errors import (
    AnalysisError,
    BudgetExceededError,
    OutcomeUnknownError,
    ProviderError,
    SpendNotConfirmedError,
    TrackingError,
    VeolabError,
)
from veolab.experiment.plan import Plan, RunSpec, Target
from veolab.experiment.templates import INLINE
from veolab.providers import Provider, ProviderConfig, get_provider
from veolab.runner import ledger as L
from veolab.runner import resolve
from veolab.runner import team as T
from veolab.runner.budget import Budget
from veolab.runner.ledger import Ledger
from veolab.runner.pipeline import (
    ANALYSING,
    GENERATING,
    WAITING,
    Custody,
    CustodyOptions,
    DoneInThisSweep,
    InProgressElsewhere,
    Job,
    NotPaidAgain,
    Obtained,
)
from veolab.runner.status import DONE, NEW, PlanStatus, host_of, plan_status, run_key
from veolab.runner.videostore import VideoStore
from veolab.tracking import schema as S
from veolab.tracking import traces
from veolab.tracking.generation import GenerationRecord, log_failure, log_generation
from veolab.tracking.prompts import link_run, link_tags, register_templates
from veolab.tracking.store import Tracker
from veolab.tracking.tables import log_plan, log_results, plan_row

# outcome of one planned run
GENERATED, RELOGGED, ALREADY, FAILED, CHECK_FAILED, SKIPPED = (
    "generated",
    "relogged",
    "already_done",
    "failed",
    "failed_checks",
    "skipped",
)
# how the outcomes read, in this order, wherever a person sees counts (the summary, the progress)
OUTCOME_WORDS: dict[str, str] = {
    GENERATED: "generated",
    ALREADY: "already done",
    RELOGGED: "from store",
    FAILED: "failed",
    CHECK_FAILED: "failed checks",
    SKIPPED: "skipped",
}
# the events between "start" and "end" (see the module docstring)
START, LOGGING, END = "start", "logging", "end"
STATES = (WAITING, GENERATING, "downloading", ANALYSING, LOGGING)


@dataclass
class RunOutcome:
    index: int
    outcome: str
    run_id: str | None = None
    cost: float = 0.0
    error: str | None = None
    checks_passed: bool | None = None
    paid: float = 0.0  # USD this call paid for it (0 for a job billed earlier and fetched now)
    elsewhere: bool = False  # another worker of the sweep dealt with it (it is in their counts)


@dataclass
class SweepResult:
    parent_run_id: str | None
    experiment_id: str | None
    outcomes: list[RunOutcome] = field(default_factory=list)
    spend: float = 0.0
    wall: float = 0.0
    unknown: list[RunSpec] = field(default_factory=list)
    # what went wrong outside custody (the prompt registry, a trace): said, never fatal
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(o.outcome for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        c = self.counts
        return 1 if (c[FAILED] or c[CHECK_FAILED] or c[SKIPPED]) else 0

    @property
    def nothing_to_do(self) -> bool:
        """Every run was already done, so nothing was created (no sweep run in MLflow)."""
        return self.parent_run_id is None and all(o.outcome == ALREADY for o in self.outcomes)

    def describe_counts(self) -> str:
        """The non-zero counts in the progress bar's words: ``generated 3, failed 1``."""
        c = self.counts
        parts = [f"{word} {c[kind]}" for kind, word in OUTCOME_WORDS.items() if c[kind]]
        return ", ".join(parts) or "generated 0"


@dataclass
class RunOptions:
    """What ``veolab run``'s flags say, for :func:`run_plan`."""

    provider: str | None = None
    model: str | None = None
    concurrency: int | None = None
    budget: float | None = None  # USD this call may spend (--budget); None: no cap of its own
    # USD of estimated spend above which a paid plan needs yes=True (None: the experiment's
    # confirm_above, 5.0 by default); the library never prompts, it raises SpendNotConfirmedError
    confirm_above: float | None = None
    yes: bool = False  # spend above confirm_above without asking (--yes)
    log_empty: bool = False  # log a sweep run even when every run is already done (--log-empty)
    force: bool = False
    resubmit_unknown: bool = False
    repay_lost: bool = False
    no_wait: bool = False
    tracking_uri: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    analysis_workers: int = 2


Event = Callable[[str, RunSpec, RunOutcome | None], None]


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provider_config(plan: Plan, opts: RunOptions, target: Target | None = None) -> ProviderConfig:
    """The config of the sweep's provider for ``target`` (default: the plan's first): its
    ``provider:`` block of the experiment with the run's options."""
    exp = plan.experiment
    target = target or targets_of(plan)[0]
    return resolve.provider_config(
        target.settings or exp.providers()[0],
        target.provider,
        target.model,
        base_url=opts.base_url,
        api_key=opts.api_key,
        max_in_flight=opts.concurrency or exp.concurrency,
        submits_per_minute=exp.rate_limit,
        where=str(exp.source_path or "the experiment file"),
    )


class Sweep:
    """One ``veolab run``: the state shared by the run tasks."""

    def __init__(
        self,
        plan: Plan,
        opts: RunOptions,
        tracker: Tracker,
        store: VideoStore,
        ledger: Ledger,
        on_event: Event | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.plan, self.opts, self.tracker, self.store, self.ledger = (
            plan,
            opts,
            tracker,
            store,
            ledger,
        )
        self.custody: Custody | None = None
        self.custodies: dict[tuple[str, str], Custody] = {}  # per (host, model)
        self.providers: dict[tuple[str, str], Provider] = {}  # one per (host, config)
        self.status = PlanStatus(status={})
        self.on_event = on_event or (lambda *a: None)
        # what the sweep says that belongs to no run (waiting for a colleague of a team's sweep)
        self.on_note = on_note or (lambda text: None)
        # --budget caps this invocation; the experiment's budget: caps every invocation (ledger)
        self.budget = Budget(opts.budget if plan.paid else None)
        self.exp_name = plan.experiment.name
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, opts.analysis_workers), thread_name_prefix="veolab-analysis"
        )
        self.exp_id: str = ""
        self.parent_id: str | None = None
        self.provider: Provider | None = None
        self.thresholds: Any = None
        self.result = SweepResult(None, None)
        self.specs: dict[str, RunSpec] = {}  # ledger key -> run, for the state events
        self.inputs: list[Any] = []  # the plan as an MLflow dataset input, on every run
        self.prompts: dict[str, Any] = {}  # template sha256 -> its Prompt Registry version
        self.traced = 0
        self.team: T.TeamSweep | None = None  # this worker's place in the shared sweep run

    # -- one run ----------------------------------------------------------------------------

    def record(self, spec: RunSpec, job: Job | None = None) -> GenerationRecord:
        """The run's record; with ``job``, its tags name the trace it will have."""
        tags = link_tags(self.prompts.get(spec.template_sha256))
        if job is not None:
            tags |= traces.run_tags(job.timeline)
        return GenerationRecord(
            request=spec.request,
            provider=host_of(self.plan, spec)[0],
            model=host_of(self.plan, spec)[1],
            variant_id=spec.variant_id,
            variant_label=spec.variant_label,
            variant_name=spec.variant_name,
            vars=spec.vars,
            template=spec.template,
            template_sha256=spec.template_sha256,
            short_label=spec.short_label,
            provider_params=self._output_params(spec),
            # the link to its Prompt Registry version (and its trace's id), written with the
            # run's other tags
            extra_tags=tags,
        )

    def _output_params(self, spec: RunSpec) -> dict[str, Any]:
        """The settings of the run's provider that change what comes back (logged as params)."""
        prov = self.providers.get(host_of(self.plan, spec), self.provider)
        return prov.output_params(prov.config) if prov is not None else {}

    def job(self, spec: RunSpec) -> Job:
        host = host_of(self.plan, spec)  # each run on its own (host, model)
        return Job(
            run_key(*host, spec.request_hash),
            self.exp_name,
            spec.request,
            spec.estimated_cost,
            self.store.video_path(*host, spec.request_hash),
        )

    def _custody(self, spec: RunSpec) -> Custody:
        """The custody of the run's (host, model): its provider; the rest is the sweep's."""
        assert self.custody is not None
        return self.custodies.get(host_of(self.plan, spec), self.custody)

    def _log(self, spec: RunSpec, got: Obtained, job: Job) -> RunOutcome:
        source = "store" if got.source == "store" else "generated"
        started = time.time()
        run_id = log_generation(
            self.tracker,
            self.exp_id,
            self.parent_id,
            self.record(spec, job),
            got.video,
            got.analysis,
            got.result,
            source=source,
            cost=got.cost if got.source != "store" else got.meta.get("cost"),
            response_meta=got.meta,
            started_at=got.started_at,
            finished_at=got.finished_at,
            inputs=self.inputs,
        )
        job.timeline.add("log", started, time.time())
        self._trace(spec, job, run_id, got.result, got.cost if got.source != "store" else 0.0)
        if not got.analysis.passed:
            kind = CHECK_FAILED
        else:
            kind = RELOGGED if got.source == "store" else GENERATED
        paid = got.cost if got.source == "generated" else 0.0
        return RunOutcome(spec.index, kind, run_id, got.cost, None, got.analysis.passed, paid)

    async def run_one(self, spec: RunSpec, status: str) -> RunOutcome:
        custody = self._custody(spec)
        self.on_event(START, spec, None)
        job = self.job(spec)
        self.specs[job.key] = spec
        try:
            got = await custody.obtain(job, planned_state=self.status.ledger_state(spec.index))
            try:
                if got.done_elsewhere is not None:
                    outcome = RunOutcome(spec.index, ALREADY, got.done_elsewhere or None)
                    outcome.elsewhere = True
                else:
                    self.on_event(LOGGING, spec, None)
                    loop = asyncio.get_running_loop()
                    outcome = await loop.run_in_executor(self.pool, self._log, spec, got, job)
                    await custody.logged(job, outcome.run_id)
            finally:
                await custody.release(job)
        except DoneInThisSweep as exc:  # another worker's verdict: in its counts
            kind = SKIPPED if exc.state in (L.NEW, L.SENDING) else FAILED
            outcome = RunOutcome(spec.index, kind, error=str(exc), elsewhere=True)
        except (BudgetExceededError, InProgressElsewhere, NotPaidAgain) as exc:
            if isinstance(exc, OutcomeUnknownError):
                self.result.unknown.append(spec)
            outcome = RunOutcome(spec.index, SKIPPED, error=str(exc))
        except (ProviderError, AnalysisError) as exc:
            cost = getattr(exc, "billed_cost", None)  # paid by this run, output not obtained
            run_id = await asyncio.to_thread(
                self._log_failure, spec, job, exc, cost if self.plan.paid else None
            )
            outcome = RunOutcome(
                spec.index,
                FAILED,
                run_id,
                cost or 0.0,
                error=f"{type(exc).__name__}: {exc}",
                paid=cost or 0.0,
            )
        except VeolabError as exc:
            if isinstance(exc, TrackingError):
                raise
            outcome = RunOutcome(spec.index, FAILED, error=f"{type(exc).__name__}: {exc}")
        self.result.outcomes.append(outcome)
        self.result.spend = round(self.budget.spent, 4)
        if self.team is not None and not outcome.elsewhere:
            await asyncio.to_thread(self.team.count, outcome.outcome, outcome.paid)
        self.on_event(END, spec, outcome)
        return outcome

    def _log_failure(self, spec: RunSpec, job: Job, exc: BaseException, cost: float | None) -> str:
        started = time.time()
        run_id = log_failure(
            self.tracker,
            self.exp_id,
            self.parent_id,
            self.record(spec, job),
            exc,
            cost=cost,
            inputs=self.inputs,
        )
        job.timeline.add("log", started, time.time())
        self._trace(spec, job, run_id, None, cost)
        return run_id

    def _trace(self, spec: RunSpec, job: Job, run_id: str, result: Any, cost: float | None) -> None:
        """Write the run's trace; a failure is a warning (the video is paid for and logged: a
        trace is never a reason to lose it)."""
        try:
            if traces.trace_generation(
                self.tracker,
                self.exp_id,
                run_id,
                job.timeline,
                self.record(spec),
                result=result,
                cost=cost,
                rendered=spec.rendered_span,
                prompt_version=self.prompts.get(spec.template_sha256),
                run_tagged=True,
            ):
                self.traced += 1
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.result.warnings.append(f"run {spec.index}: no trace ({type(exc).__name__}: {exc})")

    def _on_state(self, job: Job, state: str) -> None:
        spec = self.specs.get(job.key)
        if spec is not None:
            self.on_event(state, spec, None)

    # -- the sweep --------------------------------------------------------------------------

    async def run(self, status: PlanStatus) -> SweepResult:
        self.status = status
        t0 = time.perf_counter()
        if nothing_to_do(self.plan, status) and not self.opts.log_empty:
            self.result.experiment_id = status.experiment_id
            self._report_done()
            self.pool.shutdown(wait=False)  # it never ran anything
            self.result.wall = time.perf_counter() - t0
            return self.result
        self.thresholds = resolve.check_thresholds(self.plan.experiment)
        exp = self.plan.experiment
        # a provider that cannot work fails here: before any MLflow run exists; one provider
        # per (host, config), each checked
        for target in targets_of(self.plan):
            config = provider_config(self.plan, self.opts, target)
            self.providers[target.key] = get_provider(target.provider, config)
        for prov in self.providers.values():
            prov.check_ready()
        self.provider = next(iter(self.providers.values()))
        exp_id = self.tracker.experiment_id(exp.name)
        assert exp_id is not None  # created when missing
        self.exp_id = exp_id
        self.result.experiment_id = self.exp_id
        self.tracker.mark_experiment(self.exp_id)
        src = exp.source_path
        tags = {
            S.KIND: S.KIND_SWEEP,
            S.EXPERIMENT_FILE: str(src or ""),
            S.EXPERIMENT_SHA256: exp.source_sha256 or "",
            S.TEMPLATE_SHA256: ",".join(self.plan.template_sha256s),
            # the sweep's hosts and models, comma-separated when the grid has several
            S.PROVIDER: ",".join(dict.fromkeys(p for p, _ in self.plan.hosts())),
            S.MODEL: ",".join(dict.fromkeys(m for _, m in self.plan.hosts())),
        }
        commit = _git_commit(src.parent) if src else None
        if commit:
            tags[S.GIT_COMMIT] = commit
        # short enough for MLflow's run name column; the Created column has the whole time
        name = f"sweep {time.strftime('%m-%d %H:%M')}"
        keys = [self.job(spec).key for spec in self.plan.runs]
        self.team = T.TeamSweep(self.ledger, T.sweep_key(exp.name, keys), exp.name)
        joined = await asyncio.to_thread(
            self.team.join,
            lambda: self.tracker.create_run(self.exp_id, name, tags),
            lambda owner: self.on_note(
                f"waiting for {_worker(owner)} to open the sweep run (or for its lease to run "
                f"out, at most {self.ledger.lease:.0f} s)"
            ),
        )
        parent_id = joined.run_id
        self.parent_id = self.result.parent_run_id = parent_id
        final = "FAILED"
        try:
            for stale in joined.stale:  # a sweep whose workers all died
                T.close_stale_sweep(self.tracker, self.exp_id, stale)
            self.tracker.close_stale(self.exp_id, keep={parent_id})
            if joined.created:
                self._log_sweep_inputs(parent_id)
                await asyncio.to_thread(self.team.opened)
            else:
                self._log_sweep_inputs(parent_id, joining=True)
            self.custody = Custody(
                self.provider,
                self.ledger,
                self.plan.paid,
                CustodyOptions(
                    resubmit_unknown=self.opts.resubmit_unknown,
                    repay_lost=self.opts.repay_lost,
                    wait=not self.opts.no_wait,
                    force=self.opts.force,
                ),
                budget=self.budget,
                experiment_budget=exp.budget if self.plan.paid else None,
                thresholds=self.thresholds,
                pool=self.pool,
                semaphore=asyncio.Semaphore(self.opts.concurrency or exp.concurrency),
                on_wait=lambda job, owner: None,
                on_state=self._on_state,
                attempt=parent_id,
                logged_here=lambda run_id: T.logged_here(self.tracker, self.exp_id, run_id),
                logged_video=lambda run_id, dest: T.fetch_logged_video(self.tracker, run_id, dest),
                adopt=self._adopt,
            )
            # one custody per (host, model): its provider and whether it is paid; the
            # budget, the slots, the pool and the callbacks are the sweep's, shared
            paid = {t.key: t.pricing.paid for t in targets_of(self.plan)}
            self.custodies = {
                host: replace(self.custody, provider=prov, paid=paid[host])
                for host, prov in self.providers.items()
            }
            self._report_done()
            tasks = [
                asyncio.create_task(self.run_one(spec, self.status.status[spec.index]))
                for spec in self.plan.runs
                if self.status.status[spec.index] != DONE
            ]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            final = "FINISHED"
        except (KeyboardInterrupt, asyncio.CancelledError):
            final = "KILLED"
            raise
        finally:
            self.result.wall = time.perf_counter() - t0
            await self._close(final)
        return self.result

    def _report_done(self) -> None:
        """The runs already done before this sweep began: an outcome and an ``end`` each."""
        for spec in self.plan.runs:
            if self.status.status[spec.index] == DONE:
                o = RunOutcome(spec.index, ALREADY, self.status.done_run_ids.get(spec.index))
                self.result.outcomes.append(o)
                self.on_event(END, spec, o)

    def _adopt(self, job: Job) -> str | None:
        spec = self.specs[job.key]
        return T.adopt_logged(
            self.tracker, self.exp_id, *host_of(self.plan, spec), spec.request_hash
        )

    def _log_sweep_inputs(self, parent_id: str, joining: bool = False) -> None:
        """The sweep's files, plan dataset and prompt versions; ``joining`` a colleague's
        sweep run, only the inputs and versions its generations link to (it logged the rest)."""
        import tempfile

        exp = self.plan.experiment
        with tempfile.TemporaryDirectory(prefix="veolab-sweep-") as tmp:
            d = Path(tmp)
            if exp.source_path and exp.source_path.is_file():
                (d / S.ART_EXPERIMENT).write_bytes(exp.source_path.read_bytes())
            files: dict[str, str] = {}
            for r in self.plan.runs:  # every template used, with what it includes or imports
                files.update(r.template_files)
            for name, source in files.items():
                target = d / S.ART_TEMPLATE_DIR / ("inline.j2" if name == INLINE else name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(source)
            if not joining:
                self.tracker.log_artifacts(parent_id, d)
        rows = [
            plan_row(
                r.index,
                variant=r.variant_id,
                label=r.variant_label,
                name=r.variant_name,
                vars=r.vars,
                seed=r.seed,
                request_hash=r.request_hash,
                prompt=r.prompt,
                template=r.template,
                estimated_cost=r.estimated_cost,
                provider=host_of(self.plan, r)[0],
                model=host_of(self.plan, r)[1],
            )
            for r in self.plan.runs
        ]
        src = str(exp.source_path) if exp.source_path else None
        self.inputs = log_plan(
            self.tracker,
            parent_id,
            rows,
            name=exp.name + S.DATASET_SUFFIX,
            source=src,
            log=not joining,
        )
        used = {(r.template, r.template_sha256): r.template_files for r in self.plan.runs}
        self.prompts = register_templates(
            self.tracker,
            [(name, sha, files) for (name, sha), files in used.items()],
            experiment=exp.name,
            warnings=self.result.warnings,
            experiment_id=self.exp_id,
        )
        for version in self.prompts.values() if not joining else ():
            link_run(self.tracker, parent_id, version)

    async def _close(self, status: str) -> None:
        for prov in self.providers.values() or ([self.provider] if self.provider else []):
            try:
                await prov.aclose()
            except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                pass
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.traced:
            try:
                traces.flush(self.result.warnings)  # traces are stored in the background
            except Exception as exc:  # noqa: BLE001 - the runs are logged; say it, go on
                self.result.warnings.append(f"traces not all written: {exc}")
        if not self.parent_id:
            return
        metrics = self._leave(status)
        if metrics is None:
            return  # a colleague still works in the sweep run: the last one out closes it
        try:
            self.tracker.log(self.parent_id, metrics=metrics)
            self._log_results(self.parent_id)
        finally:
            self.tracker.terminate(self.parent_id, status)

    def _waiting(self, live: list[str]) -> None:
        who = ", ".join(_worker(o) for o in live[:3]) + (", ..." if len(live) > 3 else "")
        self.on_note(
            f"every run is done; waiting for {len(live)} other worker"
            f"{'s' if len(live) != 1 else ''} of the sweep ({who}) to finish, or for "
            f"{'their leases' if len(live) != 1 else 'its lease'} to run out (at most "
            f"{self.ledger.lease:.0f} s), to close the sweep run; --no-wait leaves it to them"
        )

    def _undone(self) -> int:
        """The runs of the plan no worker ended (logged or failed) that were not done before
        the sweep: each once, however many workers skipped it, and none a colleague did after
        this worker skipped it (a worker's own skips are neither)."""
        keys = [
            self.job(spec).key
            for spec in self.plan.runs
            if self.status.status.get(spec.index) != DONE
        ]
        entries = self.ledger.entries(keys)
        ended = (L.LOGGED, L.FAILED, L.LOST, L.CORRUPT, L.ABANDONED)  # billed-but-lost: failed
        return sum(1 for k in keys if k not in entries or entries[k].state not in ended)

    def _leave(self, status: str) -> dict[str, float] | None:
        """Leave the sweep run (waiting for live colleagues when it finished); the sweep's
        metrics when this worker is the last one out (it closes the run), else None."""
        c = self.result.counts
        metrics: dict[str, float] = {
            S.SWEEP_RUNS: len(self.plan.runs),
            S.SWEEP_GENERATED: c[GENERATED],
            S.SWEEP_DONE: c[ALREADY],
            S.SWEEP_CACHED: c[RELOGGED],
            S.SWEEP_FAILED: c[FAILED],
            S.SWEEP_CHECK_FAILED: c[CHECK_FAILED],
            S.SWEEP_SKIPPED: c[SKIPPED],
            S.SWEEP_SPEND: self.budget.spent,
            S.SWEEP_WALL: self.result.wall,
        }
        if self.team is None or self.team.run_id is None:
            return metrics
        try:
            # --no-wait waits for nobody: its colleagues, still working, close the sweep run
            if not self.team.leave(
                wait=status == "FINISHED" and not self.opts.no_wait, on_wait=self._waiting
            ):
                return None
            totals = self.team.totals()
            skipped = self._undone()
            # every worker has left or died: what is still RUNNING is nobody's any more
            T.kill_running(self.tracker, self.exp_id, self.parent_id or "")
        except (sa.exc.SQLAlchemyError, TrackingError) as exc:
            self.result.warnings.append(f"the sweep run is closed by this worker alone: {exc}")
            return metrics
        own = (GENERATED, RELOGGED, FAILED, CHECK_FAILED)
        done = len(self.plan.runs) - sum(totals[k] for k in own) - skipped
        metrics.update(
            {
                S.SWEEP_SKIPPED: skipped,
                S.SWEEP_GENERATED: totals[GENERATED],
                S.SWEEP_CACHED: totals[RELOGGED],
                S.SWEEP_FAILED: totals[FAILED],
                S.SWEEP_CHECK_FAILED: totals[CHECK_FAILED],
                S.SWEEP_DONE: max(0.0, done),
                S.SWEEP_SPEND: totals["spend"],
                S.SWEEP_WALL: max(self.result.wall, time.time() - self.team.opened_at),
                S.SWEEP_WORKERS: totals["workers"],
            }
        )
        return metrics

    def _log_results(self, parent_id: str) -> None:
        """The results table (``results.json``): every generation of the plan this sweep
        logged or found already done, one row each."""
        ids = list(dict.fromkeys(o.run_id for o in self.result.outcomes if o.run_id))
        runs = []
        for i in range(0, len(ids), 100):
            quoted = ", ".join(f"'{rid}'" for rid in ids[i : i + 100])
            runs += self.tracker.search(self.exp_id, f"attributes.run_id IN ({quoted})")
        if runs:
            log_results(self.tracker, parent_id, runs)


def targets_of(plan: Plan) -> list[Target]:
    """The (host, model) targets the plan's runs use, in order."""
    used = plan.hosts()
    return [t for t in plan.targets if t.key in used] or plan.targets


def nothing_to_do(plan: Plan, status: PlanStatus) -> bool:
    """Every run of ``plan`` is already done (logged in MLflow): a sweep would pay nothing and
    log nothing new."""
    return bool(plan.runs) and status.count(DONE) == len(plan.runs)


def spend_to_confirm(plan: Plan, status: PlanStatus, confirm_above: float | None = None) -> float:
    """The estimated USD of what ``plan`` would pay for when it is above ``confirm_above``
    (default: the experiment's), else 0.0: what ``veolab run`` asks about and what
    :func:`run_plan` refuses without ``yes=True``."""
    if not plan.paid:
        return 0.0
    limit = plan.experiment.confirm_above if confirm_above is None else confirm_above
    estimate = plan.estimated_spend(status.to_pay(plan))
    return estimate if estimate > limit else 0.0


def _refuse_unconfirmed(plan: Plan, status: PlanStatus, confirm_above: float | None) -> None:
    estimate = spend_to_confirm(plan, status, confirm_above)
    if not estimate:
        return
    limit = plan.experiment.confirm_above if confirm_above is None else confirm_above
    hosts = ", ".join(dict.fromkeys(p for p, _ in plan.hosts()))
    raise SpendNotConfirmedError(
        f"not confirmed: estimated ${estimate:.2f} for {len(status.to_pay(plan))} generations "
        f"on {hosts} is above confirm_above ${limit:.2f}; pass RunOptions(yes=True) "
        "to spend it",
        estimated_spend=estimate,
        confirm_above=limit,
    )


def _worker(owner: str) -> str:
    """A ledger owner (``host:pid:start``) as a person reads it: ``host pid 1234``."""
    parts = owner.rsplit(":", 2)
    return f"{parts[0]} pid {parts[1]}" if len(parts) == 3 else owner


def run_plan(
    plan: Plan,
    opts: RunOptions | None = None,
    *,
    tracker: Tracker | None = None,
    store: VideoStore | None = None,
    ledger: Ledger | None = None,
    status: PlanStatus | None = None,
    on_event: Event | None = None,
    on_note: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run ``plan`` to completion (synchronous entry point).

    Raises :class:`~veolab.errors.SpendNotConfirmedError` before creating or paying anything
    when a paid plan's estimated spend is above ``confirm_above`` and ``opts.yes`` is not set:
    the library never prompts."""
    opts = opts or RunOptions()
    tracker = tracker or Tracker(opts.tracking_uri)
    store = store or VideoStore()
    own_ledger = ledger is None
    ledger = ledger or Ledger()
    try:
        if status is None:
            status = plan_status(plan, tracker, store, ledger, force=opts.force)
        if not opts.yes:
            _refuse_unconfirmed(plan, status, opts.confirm_above)
        sweep = Sweep(plan, opts, tracker, store, ledger, on_event, on_note)
        return asyncio.run(sweep.run(status))
    finally:
        if own_ledger:
            ledger.close()


__all__ = [
    "NEW",
    "OUTCOME_WORDS",
    "STATES",
    "RunOptions",
    "RunOutcome",
    "Sweep",
    "SweepResult",
    "nothing_to_do",
    "run_plan",
    "spend_to_confirm",
]
