"""Log one generation as an MLflow child run, following ``tracking.schema``.

A successful generation becomes a FINISHED run with its params, tags, metrics and artifacts
(video, thumbnails, contact sheet, prompt, request/response/analysis JSON, input images), and
its stills again as MLflow images (the chart view's image grid, ``schema.IMAGE_FRAMES``). A failed
one becomes a FAILED run with the error's class and message as tags and no video. The run is
created and closed within one call, so nothing is left RUNNING if logging itself fails.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veolab.providers.base import ProviderResult
from veolab.request import VideoRequest
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker


@dataclass
class GenerationRecord:
    """What a child run says about where a generation came from."""

    request: VideoRequest
    provider: str
    model: str
    variant_id: str = ""
    variant_label: str = ""
    variant_name: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    template_sha256: str = ""
    extra_tags: dict[str, str] = field(default_factory=dict)
    short_label: str = ""  # the swept values compactly (RunSpec.short_label): the name's stem
    # the provider settings that change the output (Provider.output_params), logged as params
    provider_params: dict[str, Any] = field(default_factory=dict)

    def run_name(self) -> str:
        """``dark·drone s42`` (``... s42 rerun`` for a rerun): see ``tracking.schema``."""
        name = self.short_label or self.variant_label or "run"
        if self.request.seed is not None:
            name += f"{S.RUN_NAME_SEED}{self.request.seed}"
        return name + (S.RUN_NAME_RERUN if self.extra_tags.get(S.RERUN_OF) else "")

    def tags(self) -> dict[str, str]:
        t = {
            S.KIND: S.KIND_GENERATION,
            S.VARIANT: self.variant_id,
            S.VARIANT_LABEL: self.variant_label,
            S.REQUEST_HASH: self.request.request_hash(),
            S.TEMPLATE_SHA256: self.template_sha256,
            S.TEMPLATE: self.template,
            S.PROVIDER: self.provider,
            S.MODEL: self.model,
            S.SEED: str(self.request.seed),
        }
        if self.variant_name:
            t[S.VARIANT_NAME] = self.variant_name
        t.update(self.extra_tags)
        return t

    def params(self) -> dict[str, Any]:
        r = self.request
        # every API field of the request under its own name, images by description
        p: dict[str, Any] = r.api_values(lambda ref: ref.describe())
        p |= {
            S.PARAM_PROMPT_TRUNCATED: len(r.prompt) > S.PARAM_MAX,
            S.PARAM_PROVIDER: self.provider,
            S.PARAM_MODEL: self.model,
            S.PARAM_TEMPLATE: self.template,
        }
        p |= self.provider_params
        for k, v in self.vars.items():
            p[f"{S.VAR_PREFIX}{k}"] = (
                v if isinstance(v, str | int | float | bool) else json.dumps(v)
            )
        return p


def name_stem(run_name: str) -> str:
    """A generation run's name without its seed (and rerun mark): what a rerun's name starts
    with. Names from before compact names (``lighting=dark seed=2``) lose ``seed=2``.

    >>> name_stem("dark·drone s42 rerun"), name_stem("lighting=dark seed=2")
    ('dark·drone', 'lighting=dark')
    """
    return re.sub(r"(?: s| seed=)\d+(?: rerun)?$", "", run_name)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def _inputs(req: VideoRequest, folder: Path) -> None:
    ext = {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/webp": "webp",
        "image/gif": "gif",
        "image/bmp": "bmp",
    }
    named = [("image", req.image), ("last_frame", req.last_frame)]
    named += [(f"reference_{i}", r) for i, r in enumerate(req.reference_images)]
    for name, ref in named:
        if ref is not None and ref.data is not None:
            _write(folder / S.ART_INPUTS / f"{name}.{ext.get(ref.mime or '', 'img')}", ref.data)


def result_metrics(result: ProviderResult | None) -> dict[str, float]:
    if result is None:
        return {}
    m = {
        S.LATENCY_QUEUED: result.timings.queued,
        S.LATENCY_GENERATING: result.timings.generating,
        S.LATENCY_DOWNLOADING: result.timings.downloading,
        S.LATENCY_TOTAL: result.timings.total,
    }
    if result.cost is not None:
        m[S.COST] = result.cost
    if result.remaining_credits is not None:
        m[S.REMAINING_CREDITS] = result.remaining_credits
    return m


def analysis_metrics(analysis: Any) -> dict[str, float]:
    m = {k: float(v) for k, v in analysis.numeric_metrics().items()}
    for check in analysis.checks:
        m[f"{S.CHECK_PREFIX}{check.name}"] = 1.0 if check.passed else 0.0
    m[S.CHECKS_PASSED] = 1.0 if analysis.passed else 0.0
    return m


def log_generation(
    tracker: Tracker,
    experiment_id: str,
    parent_id: str | None,
    record: GenerationRecord,
    video: bytes,
    analysis: Any,
    result: ProviderResult | None,
    *,
    source: str = "generated",
    cost: float | None = None,
    response_meta: dict[str, Any] | None = None,
    started_at: float | None = None,
    finished_at: float | None = None,
    inputs: list[Any] | None = None,
) -> str:
    """Create, fill and close one FINISHED child run; returns its run id. ``started_at`` and
    ``finished_at`` (seconds since the epoch): when the request was submitted and when its
    video was in hand, the run's start and end (default: while it is logged). ``inputs``:
    MLflow dataset inputs (the sweep's plan, ``tracking.tables``)."""
    tags = record.tags()
    tags[S.SOURCE] = source
    tags[S.CHECKS_PASSED_TAG] = "true" if analysis.passed else "false"
    failed = [c.name for c in analysis.checks if not c.passed]
    if failed:
        tags[S.FAILED_CHECKS] = ",".join(failed)
    if result is not None and result.request_id:
        tags[S.PROVIDER_REQUEST_ID] = result.request_id
    used = result.metadata.get("prompt_used") if result is not None else None
    if isinstance(used, str) and used:  # the host rewrote the prompt (the whole one: response.json)
        tags[S.PROMPT_USED] = used[:4000]
    metrics = {**result_metrics(result), **analysis_metrics(analysis)}
    if cost is not None:
        metrics[S.COST] = cost
    start, end = _span(started_at, finished_at)
    run_id = tracker.create_run(
        experiment_id, record.run_name(), tags, parent_id, start_time_ms=start
    )
    try:
        tracker.log(run_id, params=record.params(), metrics=metrics)
        if inputs:
            tracker.log_inputs(run_id, inputs)
        with tempfile.TemporaryDirectory(prefix="veolab-art-") as tmp:
            folder = Path(tmp)
            _write(folder / S.ART_VIDEO, video)
            analysis.write_images(folder)
            _write(folder / S.ART_PROMPT, record.request.prompt + "\n")
            _write(
                folder / S.ART_REQUEST,
                json.dumps(record.request.to_record(), indent=2, sort_keys=True),
            )
            meta = (
                response_meta if response_meta is not None else (result.metadata if result else {})
            )
            _write(folder / S.ART_RESPONSE, json.dumps(meta, indent=2, sort_keys=True, default=str))
            _write(folder / S.ART_ANALYSIS, json.dumps(analysis.to_dict(), indent=2, default=str))
            _inputs(record.request, folder)
            tracker.log_artifacts(run_id, folder)
        tracker.log_images(run_id, S.IMAGE_FRAMES, [_rgb(t.jpeg) for t in grid_stills(analysis)])
    except BaseException:
        _safe_terminate(tracker, run_id, "FAILED")
        raise
    tracker.terminate(run_id, "FINISHED", end_time_ms=end)
    return run_id


def grid_stills(analysis: Any) -> list[Any]:
    """The stills of MLflow's image grid (``schema.IMAGE_FRAMES``), in time order: the first
    frame, the evenly spaced ones, the last; ``middle`` (between two of them) is left out, so
    that step k is the same place in every clip."""
    return sorted((t for t in analysis.thumbnails if t.name != "middle"), key=lambda t: t.time_s)


def _rgb(jpeg: bytes) -> Any:
    import cv2
    import numpy as np

    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:  # pragma: no cover - the analysis encoded it
        raise ValueError("a thumbnail is not a JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _span(started_at: float | None, finished_at: float | None) -> tuple[int | None, int | None]:
    """A run's start and end in MLflow's milliseconds; (None, None) when either is unknown (the
    run then spans its logging), and never an end before the start."""
    if started_at is None or finished_at is None:
        return None, None
    start = int(started_at * 1000)
    return start, max(start, int(finished_at * 1000))


def log_failure(
    tracker: Tracker,
    experiment_id: str,
    parent_id: str | None,
    record: GenerationRecord,
    error: BaseException,
    result: ProviderResult | None = None,
    *,
    cost: float | None = None,
    inputs: list[Any] | None = None,
) -> str:
    """A FAILED child run carrying the error class and message; no video. ``cost``: what the
    failed generation was billed (a failure after billing still costs money); ``inputs`` as
    :func:`log_generation`'s."""
    tags = record.tags()
    tags[S.ERROR_CLASS] = type(error).__name__
    tags[S.ERROR_MESSAGE] = str(error)[:4000]
    rid = getattr(error, "request_id", None)
    if rid:
        tags[S.PROVIDER_REQUEST_ID] = rid
    run_id = tracker.create_run(experiment_id, record.run_name(), tags, parent_id)
    try:
        metrics = result_metrics(result)
        if cost is not None:
            metrics[S.COST] = cost
        tracker.log(run_id, params=record.params(), metrics=metrics)
        if inputs:
            tracker.log_inputs(run_id, inputs)
        with tempfile.TemporaryDirectory(prefix="veolab-art-") as tmp:
            folder = Path(tmp)
            _write(folder / S.ART_PROMPT, record.request.prompt + "\n")
            _write(
                folder / S.ART_REQUEST,
                json.dumps(record.request.to_record(), indent=2, sort_keys=True),
            )
            tracker.log_artifacts(run_id, folder)
    finally:
        _safe_terminate(tracker, run_id, "FAILED")
    return run_id


def _safe_terminate(tracker: Tracker, run_id: str, status: str) -> None:
    try:
        tracker.terminate(run_id, status)
    except Exception:  # noqa: BLE001 - best effort while another error propagates
        pass


def repro_metrics(repro: Any) -> dict[str, float]:
    """The MLflow metrics of a rerun's reproducibility (``analysis.repro.ReproMetrics``)."""
    m = {
        S.REPRO_SCORE: repro.repro_score,
        S.REPRO_PSNR: repro.psnr_db,
        S.REPRO_PSNR_MIN: repro.psnr_min_db,
        S.REPRO_SSIM: repro.ssim,
        S.REPRO_SSIM_MIN: repro.ssim_min,
        S.REPRO_IDENTICAL: repro.identical_frames,
        S.REPRO_FRAMES: float(repro.frames_compared),
    }
    if repro.audio_corr is not None:
        m[S.REPRO_AUDIO_CORR] = repro.audio_corr
    return m
