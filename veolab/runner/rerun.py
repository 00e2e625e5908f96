"""Reissue exactly the request a run logged, and measure how reproducible its clip is.

    plan = plan_rerun("3f2a...", times=2)
    plan.total_cost
    # -> 0.0
    result = execute_rerun(plan)
    [r.repro.repro_score for r in result.reruns]
    # -> [1.0, 1.0]

The request is rebuilt from the run's ``request.json`` and its ``inputs/`` images, and must hash
to the logged ``request_hash`` (otherwise nothing is sent). The provider and model are the run's
(``veolab.provider``, ``veolab.model``), with the provider options and check thresholds of the
sweep's ``experiment.yaml`` when the provider is the same. Reruns never come from the video
store or MLflow: each one is a new generation (and paid on a paid provider).

Logging: one new parent run (``veolab.kind=rerun``, ``veolab.rerun_of=<run>``) in the same MLflow
experiment, with one child run per rerun, logged like any generation plus ``veolab.rerun_of``
and the reproducibility metrics against the original (``repro_score``, ``repro_psnr_db``, ...,
``repro.json``). A same-seed rerun also logs ``repro_score`` on the original run.

Each rerun goes through the one pipeline (``veolab.runner.pipeline``) with its own ledger key
(``rerun/<original run id>/<request hash>/<n>``) and is kept under
``$VEOLAB_HOME/reruns/<original run id>/<hash[:12]>-<n>.mp4`` before it is logged. A rerun
interrupted after its submit is resumed by the next ``veolab rerun`` of the same run (its job
fetched by id and counted as one of ``--times``), never paid again.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veolab.errors import (
    ConfigError,
    MissingKeyError,
    VeolabError,
)
from veolab.images import ImageRef
from veolab.request import (
    API_FIELDS,
    IMAGE_FIELDS,
    LIST_FIELDS,
    SEED_MAX,
    VideoRequest,
    image_name,
)
from veolab.runner.ledger import Ledger
from veolab.tracking import schema as S
from veolab.tracking import traces
from veolab.tracking.generation import (
    GenerationRecord,
    log_failure,
    log_generation,
    name_stem,
    repro_metrics,
)
from veolab.tracking.prompts import LINKED_PROMPTS
from veolab.tracking.store import Tracker, existing_store

MAX_TIMES = 100


@dataclass
class RerunPlan:
    """What a rerun will send, to whom, and what it will cost."""

    original_run_id: str
    experiment_id: str
    run_name: str
    request: VideoRequest
    original_seed: int | None
    provider: str
    model: str
    times: int
    cost_each: float
    paid: bool
    record: GenerationRecord
    provider_config: Any  # ProviderConfig
    thresholds: Any  # CheckThresholds
    has_video: bool
    #: why the request's seed cannot reproduce the video (no seed, or a provider setting that
    #: makes it meaningless: Vertex's sample_count > 1 or enhance_prompt); None when it can
    seed_warning: str | None = None

    @property
    def total_cost(self) -> float:
        return round(self.cost_each * self.times, 4)

    @property
    def seed_changed(self) -> bool:
        return self.request.seed != self.original_seed


@dataclass
class RerunOutcome:
    index: int
    run_id: str | None
    seed: int | None
    cost: float = 0.0
    repro: Any = None  # ReproMetrics, None when the original has no video or this one failed
    checks_passed: bool | None = None
    error: str | None = None


@dataclass
class RerunResult:
    parent_run_id: str
    experiment_id: str
    reruns: list[RerunOutcome] = field(default_factory=list)
    wall: float = 0.0

    @property
    def spend(self) -> float:
        return round(sum(r.cost for r in self.reruns), 4)

    @property
    def exit_code(self) -> int:
        return 1 if any(r.error for r in self.reruns) else 0


def _artifact_names(tracker: Tracker, run_id: str, path: str | None = None) -> list[str]:
    return tracker.artifact_names(run_id, path)


def rebuild_request(tracker: Tracker, run_id: str, workdir: Path) -> VideoRequest:
    """The exact VideoRequest of a logged run (images from ``inputs/``), hash-verified."""
    names = _artifact_names(tracker, run_id)
    if S.ART_REQUEST not in names:
        raise ConfigError(f"run {run_id} has no {S.ART_REQUEST} artifact: it cannot be reissued")
    rec = json.loads(tracker.download(run_id, S.ART_REQUEST, workdir).read_text())
    inputs: dict[str, Path] = {}
    if S.ART_INPUTS in names:
        folder = tracker.download(run_id, S.ART_INPUTS, workdir)
        inputs = {p.stem: p for p in folder.iterdir() if p.is_file()}

    def image(name: str, ident: dict | None) -> str | ImageRef | None:
        if not ident:
            return None
        if "url" in ident:
            return ident["url"]
        path = inputs.get(name)
        if path is None:
            raise ConfigError(
                f"run {run_id} logged {name} by hash but has no {S.ART_INPUTS}/{name}.* "
                "artifact: the image cannot be rebuilt"
            )
        ref = ImageRef.parse(str(path))
        if ref.sha256 != ident.get("sha256"):
            raise ConfigError(
                f"{S.ART_INPUTS}/{path.name} of run {run_id} does not match the "
                "logged image hash: the artifact was changed"
            )
        return ref

    fields: dict[str, Any] = {}
    for name in API_FIELDS:  # as logged: scalars as they are, images by hash or URL
        logged = rec.get(name)
        if name not in IMAGE_FIELDS:
            fields[name] = logged
        elif name in LIST_FIELDS:
            fields[name] = [image(image_name(name, i), r) for i, r in enumerate(logged or [])]
        else:
            fields[name] = image(name, logged)
    fields = {k: v for k, v in fields.items() if v is not None}
    req = VideoRequest.build(veo_rules=rec.get("veo_rules", True), **fields)
    want = rec.get("request_hash")
    if req.request_hash() != want:
        raise ConfigError(
            f"the request rebuilt from run {run_id} hashes to "
            f"{req.request_hash()[:12]}, not the logged {str(want)[:12]}: "
            "not reissuing a different request"
        )
    return req


def _sweep_settings(tracker: Tracker, parent_id: str | None, provider: str, workdir: Path):
    """Provider settings, check thresholds, rate settings (concurrency, submits per minute)
    and price overrides (``prices:``) from the sweep's experiment.yaml, if any."""
    import yaml

    from veolab.analysis import CheckThresholds
    from veolab.experiment.schema import Price, ProviderSettings

    if not parent_id or S.ART_EXPERIMENT not in _artifact_names(tracker, parent_id):
        return None, CheckThresholds(), {}, {}
    try:
        path = tracker.download(parent_id, S.ART_EXPERIMENT, workdir / "sweep")
        data = yaml.safe_load(path.read_text()) or {}
        # provider: one block, a name, or a list of them (issue 14): the run's own host's block
        blocks = data.get("provider") or {}
        blocks = blocks if isinstance(blocks, list) else [blocks]
        blocks = [{"name": b} if isinstance(b, str) else b for b in blocks]
        mine = next((b for b in blocks if b.get("name", "sim") == provider), None)
        settings = ProviderSettings(**(mine or {"name": provider}))
        if isinstance(settings.model, list):  # an axis of models, not a setting
            settings.model = None
        thresholds = CheckThresholds.parse(data.get("checks") or {})
        rates = {
            "max_in_flight": int(data.get("concurrency") or 0) or None,
            "submits_per_minute": float(data.get("rate_limit") or 0) or None,
        }
        prices = {
            str(m): Price.model_validate(p).model_dump()
            for m, p in (data.get("prices") or {}).items()
        }
    except (ValueError, TypeError, AttributeError, OSError, yaml.YAMLError):
        # an unreadable file: the defaults, as `veolab generate`
        return None, CheckThresholds(), {}, {}
    if mine is None:
        return None, thresholds, rates, {}
    return settings, thresholds, rates, prices


def plan_rerun(
    run_id: str,
    *,
    seed: int | None = None,
    times: int = 1,
    tracker: Tracker | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RerunPlan:
    """Everything a rerun needs, checked before anything is sent or paid. ``run_id`` is a
    generation run's id or a unique prefix of it (at least 4 characters)."""
    from veolab.providers import Provider, provider_class
    from veolab.tracking.rating import generation_run

    if not 1 <= times <= MAX_TIMES:
        raise ConfigError(f"--times {times} is outside 1 to {MAX_TIMES}")
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"--seed {seed} is outside 0 to {SEED_MAX}")
    tracker = tracker or existing_store()
    run = generation_run(tracker, run_id, verb="rerun")
    run_id = run.info.run_id  # a unique prefix names the run; its whole id from here on
    tags = run.data.tags
    provider, model = tags.get(S.PROVIDER), tags.get(S.MODEL)
    if not provider or not model:
        raise ConfigError(f"run {run_id} has no {S.PROVIDER}/{S.MODEL} tags: not a veolab run")
    with tempfile.TemporaryDirectory(prefix="veolab-rerun-") as tmp:
        req = rebuild_request(tracker, run_id, Path(tmp))
        settings, thresholds, rates, prices = _sweep_settings(
            tracker, tags.get(S.PARENT_RUN_ID), provider, Path(tmp)
        )
        has_video = S.ART_VIDEO in _artifact_names(tracker, run_id)
    original_seed = req.seed
    if seed is not None:
        req = req.with_seed(seed)
    cls = provider_class(provider)
    if cls.needs_key and not (api_key or (cls.key_env_var and os.environ.get(cls.key_env_var))):
        raise MissingKeyError(
            f"provider {provider} needs a key: set {cls.key_env_var} or pass --api-key"
        )
    from veolab.runner.resolve import provider_config

    config = provider_config(
        settings,
        provider,
        model,
        base_url=base_url,
        api_key=api_key,
        where=f"the experiment.yaml of run {run_id}'s sweep",
        **rates,
    )
    if cls.check_ready is not Provider.check_ready:
        cls(config).check_ready()  # the host's own check (vertex: a token or ADC, a project)
    cost = cls.price(req, config.model, prices)  # the sweep's prices: on top, as in its plan
    params = run.data.params
    record = GenerationRecord(
        request=req,
        provider=provider,
        model=model,
        variant_id=tags.get(S.VARIANT, ""),
        variant_label=tags.get(S.VARIANT_LABEL, ""),
        variant_name=tags.get(S.VARIANT_NAME),
        vars={
            k.removeprefix(S.VAR_PREFIX): v for k, v in params.items() if k.startswith(S.VAR_PREFIX)
        },
        template=tags.get(S.TEMPLATE, ""),
        template_sha256=tags.get(S.TEMPLATE_SHA256, ""),
        short_label=name_stem(run.info.run_name or ""),
        provider_params=cls.output_params(config),
        extra_tags={
            S.RERUN_OF: run_id,
            S.RERUN_SEED: "true" if req.seed != original_seed else "false",
            # the prompt version the original rendered (the rerun sends its exact prompt)
            **{k: tags[k] for k in (LINKED_PROMPTS, S.PROMPT) if tags.get(k)},
        },
    )
    reason = cls.seed_holds(config)
    if req.seed is None:
        seed_warning: str | None = (
            f"run {run_id} has no seed (the host picked one): a rerun draws another video, "
            "so its repro_score says little; pass --seed to fix one"
        )
    elif reason:
        seed_warning = f"the seed does not hold on this run's settings: {reason}"
    else:
        seed_warning = None
    return RerunPlan(
        run_id,
        run.info.experiment_id,
        run.info.run_name or run_id,
        req,
        original_seed,
        provider,
        model,
        times,
        cost,
        bool(cls.paid),
        record,
        config,
        thresholds,
        has_video,
        seed_warning,
    )


def execute_rerun(plan: RerunPlan, *, tracker: Tracker | None = None, on_event=None) -> RerunResult:
    """Generate ``plan.times`` new clips, analyse, log and compare each with the original."""
    tracker = tracker or existing_store()
    emit = on_event or (lambda msg: None)
    t0 = time.perf_counter()
    tracker.mark_experiment(plan.experiment_id)
    parent = tracker.create_run(
        plan.experiment_id,
        f"rerun of {plan.run_name}",
        {
            S.KIND: S.KIND_RERUN,
            S.RERUN_OF: plan.original_run_id,
            S.PROVIDER: plan.provider,
            S.MODEL: plan.model,
            S.REQUEST_HASH: plan.request.request_hash(),
        },
    )
    result = RerunResult(parent, plan.experiment_id)
    status = "FAILED"
    try:
        with tempfile.TemporaryDirectory(prefix="veolab-rerun-") as tmp:
            original = (
                tracker.download(plan.original_run_id, S.ART_VIDEO, Path(tmp))
                if plan.has_video
                else None
            )
            ledger = Ledger()
            try:
                jobs, obtained = asyncio.run(_obtain_all(plan, ledger))
                for i, (job, got) in enumerate(zip(jobs, obtained, strict=True)):
                    emit(f"rerun {i + 1}/{plan.times}: logging")
                    outcome = _finish(plan, tracker, parent, i, got, original, job)
                    result.reruns.append(outcome)
                    if not isinstance(got, BaseException):
                        if outcome.run_id:
                            ledger.logged(job.key, outcome.run_id)
                        ledger.release(job.key)
            finally:
                ledger.close()
        status = "FINISHED" if any(r.error is None for r in result.reruns) else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        result.wall = time.perf_counter() - t0
        scores = [r.repro.repro_score for r in result.reruns if r.repro is not None]
        metrics = {
            S.SWEEP_RUNS: plan.times,
            S.SWEEP_FAILED: sum(1 for r in result.reruns if r.error),
            S.SWEEP_SPEND: result.spend,
            S.SWEEP_WALL: result.wall,
        }
        if scores:
            metrics[S.REPRO_SCORE] = sum(scores) / len(scores)
        try:
            tracker.log(parent, metrics=metrics)
        finally:
            tracker.terminate(parent, status)
    return result


async def _obtain_all(plan: RerunPlan, ledger: Any) -> tuple[list[Any], list[Any]]:
    """Every rerun through the one pipeline (at most max_in_flight at once): each an Obtained
    video or the error. An earlier rerun of the same run that was interrupted after its submit
    is resumed first (its job fetched by id), never paid again."""
    from veolab._fs import veolab_home
    from veolab.providers import get_provider
    from veolab.runner.pipeline import Custody, CustodyOptions, Job, numbered_keys

    provider = get_provider(plan.provider, plan.provider_config)
    custody = Custody(
        provider,
        ledger,
        plan.paid,
        CustodyOptions(repay_hint="run veolab rerun again to pay for a new one", give_up_lost=True),
        thresholds=plan.thresholds,
        semaphore=asyncio.Semaphore(plan.provider_config.max_in_flight),
    )
    h = plan.request.request_hash()
    prefix = f"rerun/{plan.original_run_id}/{h}/"
    keys = await asyncio.to_thread(numbered_keys, ledger, prefix, plan.times)
    folder = veolab_home() / "reruns" / plan.original_run_id
    jobs = [
        Job(
            k,
            f"rerun:{plan.experiment_id}",
            plan.request,
            plan.cost_each,
            folder / f"{h[:12]}-{k.rsplit('/', 1)[1]}.mp4",
        )
        for k in keys
    ]

    async def one(job: Any) -> Any:
        try:
            return await custody.obtain(job)
        except VeolabError as exc:
            return exc

    try:
        return jobs, list(await asyncio.gather(*[one(j) for j in jobs]))
    finally:
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001 - closing must not hide the outcome
            pass


def _finish(
    plan: RerunPlan,
    tracker: Tracker,
    parent: str,
    i: int,
    got: Any,
    original: Path | None,
    job: Any,
) -> RerunOutcome:
    from veolab.analysis.repro import reproducibility

    if isinstance(got, VeolabError):
        cost = getattr(got, "billed_cost", None)
        started = time.time()
        run_id = log_failure(tracker, plan.experiment_id, parent, plan.record, got, cost=cost)
        job.timeline.add("log", started, time.time())
        _trace(plan, tracker, run_id, job, None, cost)
        return RerunOutcome(
            i, run_id, plan.request.seed, cost or 0.0, error=f"{type(got).__name__}: {got}"
        )
    result, video, analysis, cost = got.result, got.video, got.analysis, got.cost
    seed = result.seed if result is not None else got.meta.get("seed")
    started = time.time()
    run_id = log_generation(
        tracker,
        plan.experiment_id,
        parent,
        plan.record,
        video,
        analysis,
        result,
        source="rerun",
        cost=cost if got.source != "store" else got.meta.get("cost"),
        response_meta=got.meta,
        started_at=got.started_at,
        finished_at=got.finished_at,
    )
    job.timeline.add("log", started, time.time())
    _trace(plan, tracker, run_id, job, result, cost)
    repro = None
    if original is not None:
        repro = reproducibility(original, video)
        tracker.log(run_id, metrics=repro_metrics(repro))
        with tempfile.TemporaryDirectory(prefix="veolab-repro-") as tmp:
            p = Path(tmp) / S.ART_REPRO
            p.write_text(
                json.dumps({"original_run_id": plan.original_run_id, **repro.to_dict()}, indent=2)
            )
            tracker.log_artifact(run_id, p)
        if not plan.seed_changed:
            tracker.log(plan.original_run_id, metrics={S.REPRO_SCORE: repro.repro_score})
    return RerunOutcome(i, run_id, seed, cost, repro, analysis.passed)


def _trace(
    plan: RerunPlan, tracker: Tracker, run_id: str, job: Any, result: Any, cost: float | None
) -> None:
    """The rerun's trace (a failure to write it is said, not fatal: the clip is logged)."""
    try:
        if traces.trace_generation(
            tracker, plan.experiment_id, run_id, job.timeline, plan.record, result=result, cost=cost
        ):
            warnings: list[str] = []
            traces.flush(warnings)
            for line in warnings:
                print(f"veolab: rerun {run_id}: {line}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - MLflow's tracing raises many kinds
        print(f"veolab: rerun {run_id}: no trace ({type(exc).__name__}: {exc})", file=sys.stderr)


__all__ = [
    "RerunOutcome",
    "RerunPlan",
    "RerunResult",
    "execute_rerun",
    "plan_rerun",
    "rebuild_request",
]
