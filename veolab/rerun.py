"""Reissue exactly the request a run logged, and measure how reproducible its clip is.

    >>> plan = plan_rerun("3f2a...", times=2)        # doctest: +SKIP
    >>> plan.total_cost                              # doctest: +SKIP
    0.0
    >>> result = execute_rerun(plan)                 # doctest: +SKIP
    >>> [r.repro.repro_score for r in result.reruns] # doctest: +SKIP
    [1.0, 1.0]

The request is rebuilt from the run's ``request.json`` and its ``inputs/`` images, and must hash
to the logged ``request_hash`` (otherwise nothing is sent). The provider and model are the run's
(``veolab.provider``, ``veolab.model``), with the provider options and check thresholds of the
sweep's ``experiment.yaml`` when the provider is the same. Reruns never come from the video
store or MLflow: each one is a new generation (and paid on a paid provider).

Logging: one new parent run (``veolab.kind=rerun``, ``veolab.rerun_of=<run>``) in the same MLflow
experiment, with one child run per rerun, logged like any generation plus ``veolab.rerun_of``
and the reproducibility metrics against the original (``repro_score``, ``repro_psnr_db``, ...,
``repro.json``). A same-seed rerun also logs ``repro_score`` on the original run. Each video is
kept under ``$VEOLAB_HOME/reruns/<original run id>/`` before it is logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veolab.errors import (
    AnalysisError,
    ConfigError,
    MissingKeyError,
    ProviderError,
    VeolabError,
)
from veolab.fsutil import atomic_write_bytes
from veolab.images import ImageRef
from veolab.request import SEED_MAX, VideoRequest
from veolab.tracking import schema as S
from veolab.tracking.generation import GenerationRecord, log_failure, log_generation
from veolab.tracking.store import Tracker

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
    files = tracker._call("list artifacts", tracker.client.list_artifacts, run_id, path)
    return [f.path for f in files]


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

    fields: dict[str, Any] = {
        k: rec.get(k)
        for k in (
            "prompt",
            "negative_prompt",
            "aspect_ratio",
            "duration",
            "resolution",
            "generate_audio",
            "seed",
        )
    }
    fields["image"] = image("image", rec.get("image"))
    fields["last_frame"] = image("last_frame", rec.get("last_frame"))
    fields["reference_images"] = [
        image(f"reference_{i}", r) for i, r in enumerate(rec.get("reference_images") or [])
    ]
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
    """Provider settings and check thresholds from the sweep's experiment.yaml, if any."""
    import yaml

    from veolab.analysis import CheckThresholds
    from veolab.experiment.schema import ProviderSettings

    if not parent_id or S.ART_EXPERIMENT not in _artifact_names(tracker, parent_id):
        return None, CheckThresholds()
    try:
        path = tracker.download(parent_id, S.ART_EXPERIMENT, workdir / "sweep")
        data = yaml.safe_load(path.read_text()) or {}
        settings = ProviderSettings(**(data.get("provider") or {}))
        thresholds = CheckThresholds(**(data.get("checks") or {}))
    except (ValueError, TypeError, AttributeError, OSError, yaml.YAMLError):
        return None, CheckThresholds()  # an unreadable file: the defaults, as `veolab generate`
    return (settings if settings.name == provider else None), thresholds


def plan_rerun(
    run_id: str,
    *,
    seed: int | None = None,
    times: int = 1,
    tracker: Tracker | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> RerunPlan:
    """Everything a rerun needs, checked before anything is sent or paid."""
    from veolab.providers import ProviderConfig, provider_class
    from veolab.rating import _generation_run

    if not 1 <= times <= MAX_TIMES:
        raise ConfigError(f"--times {times} is outside 1 to {MAX_TIMES}")
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"--seed {seed} is outside 0 to {SEED_MAX}")
    tracker = tracker or Tracker()
    run = _generation_run(tracker, run_id)
    tags = run.data.tags
    provider, model = tags.get(S.PROVIDER), tags.get(S.MODEL)
    if not provider or not model:
        raise ConfigError(f"run {run_id} has no {S.PROVIDER}/{S.MODEL} tags: not a veolab run")
    with tempfile.TemporaryDirectory(prefix="veolab-rerun-") as tmp:
        req = rebuild_request(tracker, run_id, Path(tmp))
        settings, thresholds = _sweep_settings(
            tracker, tags.get("mlflow.parentRunId"), provider, Path(tmp)
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
    cfg: dict[str, Any] = {"name": provider, "model": model, "api_key": api_key}
    if settings is not None:
        cfg |= {
            "mode": settings.mode,
            "base_url": settings.base_url,
            "inline_images": settings.inline_images,
            "options": dict(settings.options),
        }
        if settings.read_timeout:
            cfg["read_timeout"] = settings.read_timeout
        if settings.job_timeout:
            cfg["job_timeout"] = settings.job_timeout
    if base_url:
        cfg["base_url"] = base_url
    config = ProviderConfig(**cfg)
    instance = cls(config)
    cost = float(instance.estimate_cost(req, model)) if cls.paid else 0.0
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
        extra_tags={
            S.RERUN_OF: run_id,
            S.RERUN_SEED: "true" if req.seed != original_seed else "false",
        },
    )
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
    )


def execute_rerun(plan: RerunPlan, *, tracker: Tracker | None = None, on_event=None) -> RerunResult:
    """Generate ``plan.times`` new clips, analyse, log and compare each with the original."""
    tracker = tracker or Tracker()
    emit = on_event or (lambda msg: None)
    t0 = time.perf_counter()
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
            generated = asyncio.run(_generate_all(plan))
            for i, got in enumerate(generated):  # every paid clip on disk before any analysis
                _keep(plan, parent, i, got)
            for i, got in enumerate(generated):
                emit(f"rerun {i + 1}/{plan.times}: analysing")
                result.reruns.append(_finish(plan, tracker, parent, i, got, original))
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


async def _generate_all(plan: RerunPlan) -> list[Any]:
    """Every generation of the plan (at most max_in_flight at once); a result or the error."""
    from veolab.providers import get_provider

    provider = get_provider(plan.provider, plan.provider_config)
    sem = asyncio.Semaphore(plan.provider_config.max_in_flight)

    async def one() -> Any:
        async with sem:
            try:
                return await provider.generate(plan.request)
            except ProviderError as exc:
                return exc

    try:
        return await asyncio.gather(*[one() for _ in range(plan.times)])
    finally:
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001 - closing must not hide the outcome
            pass


def _keep(plan: RerunPlan, parent: str, i: int, got: Any) -> Path | None:
    """$VEOLAB_HOME/reruns/<original>/<parent>-<i>.mp4: a paid clip is never only in memory."""
    from veolab.store import veolab_home

    if isinstance(got, BaseException):
        return None
    try:
        video = got.video_bytes()
    except (ValueError, OSError):
        return None
    return atomic_write_bytes(
        veolab_home() / "reruns" / plan.original_run_id / f"{parent}-{i + 1}.mp4", video
    )


def _finish(
    plan: RerunPlan, tracker: Tracker, parent: str, i: int, got: Any, original: Path | None
) -> RerunOutcome:
    from veolab.analysis import Expectations, analyze_video
    from veolab.mp4 import verify_mp4
    from veolab.repro import reproducibility

    if isinstance(got, VeolabError):
        run_id = log_failure(tracker, plan.experiment_id, parent, plan.record, got)
        return RerunOutcome(i, run_id, plan.request.seed, error=f"{type(got).__name__}: {got}")
    result = got
    cost = result.cost if result.cost is not None else plan.cost_each
    try:
        video = result.video_bytes()
        verify_mp4(video)
    except (ProviderError, ValueError) as exc:
        run_id = log_failure(tracker, plan.experiment_id, parent, plan.record, exc, result)
        return RerunOutcome(i, run_id, result.seed, cost, error=f"{type(exc).__name__}: {exc}")
    try:
        analysis = analyze_video(
            video, expectations=Expectations.from_request(plan.request), thresholds=plan.thresholds
        )
    except AnalysisError as exc:
        run_id = log_failure(tracker, plan.experiment_id, parent, plan.record, exc, result)
        return RerunOutcome(i, run_id, result.seed, cost, error=f"{type(exc).__name__}: {exc}")
    meta = {**result.metadata, "cost": cost, "seed": result.seed, "request_id": result.request_id}
    run_id = log_generation(
        tracker,
        plan.experiment_id,
        parent,
        plan.record,
        video,
        analysis,
        result,
        source="rerun",
        cost=cost,
        response_meta=meta,
    )
    repro = None
    if original is not None:
        repro = reproducibility(original, video)
        tracker.log(run_id, metrics=repro.metrics())
        with tempfile.TemporaryDirectory(prefix="veolab-repro-") as tmp:
            p = Path(tmp) / S.ART_REPRO
            p.write_text(
                json.dumps({"original_run_id": plan.original_run_id, **repro.to_dict()}, indent=2)
            )
            tracker.log_artifact(run_id, p)
        if not plan.seed_changed:
            tracker.log(plan.original_run_id, metrics={S.REPRO_SCORE: repro.repro_score})
    return RerunOutcome(i, run_id, result.seed, cost, repro, analysis.passed)


__all__ = [
    "RerunOutcome",
    "RerunPlan",
    "RerunResult",
    "execute_rerun",
    "plan_rerun",
    "rebuild_request",
]
