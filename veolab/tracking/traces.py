"""One MLflow trace per generation: the pipeline's stages as spans on the generation's run.

    timeline = Timeline()
    with timeline.span("claim"):
        ...
    timeline.add("generate", started, ended, seed=42)
    trace_id = log_trace(tracker, experiment_id, run_id, timeline, attributes={...})

The pipeline records what each stage took while it works (:class:`Timeline`: wall-clock times,
a few attributes, the error of a stage that failed); the trace is written afterwards, in one
go, with those times (MLflow's client API takes explicit start and end times), so tracing adds
no work inside a stage and a trace is never left open. The root span ``generation`` spans the
first to the last stage; a failed stage has status ERROR and its error as an event, and the root
is ERROR with it. The trace's ``mlflow.sourceRun`` is the generation's run, so the run's Traces
tab shows the timeline.

MLflow writes traces from a background queue; :func:`flush` waits for it (the sweep calls it
once at the end). ``VEOLAB_TRACING=0`` turns tracing off (:func:`enabled`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from veolab.tracking import schema as S

TRACING_ENV = "VEOLAB_TRACING"
ROOT = "generation"
# the stages in pipeline order (a generation records the ones it went through)
STAGES = (
    "render",
    "claim",
    "submit",
    "queue",
    "generate",
    "download",
    "verify",
    "store",
    "analyse",
    "log",
)


_bound_uri: str | None = None  # the store MLflow's trace exporter writes to
_bind_lock = threading.Lock()
_unlinked: list[tuple[Any, Any, str]] = []  # (tracker, prompt version, trace id) to link


def enabled() -> bool:
    """False when ``VEOLAB_TRACING`` is 0, false, no or off."""
    return os.environ.get(TRACING_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Stage:
    name: str
    start: float  # seconds since the epoch
    end: float
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # "ErrorClass: message" of a stage that failed


@dataclass
class Timeline:
    """The stages one generation went through, with their wall-clock times."""

    stages: list[Stage] = field(default_factory=list)

    def add(
        self, name: str, start: float, end: float, error: str | None = None, **attributes: Any
    ) -> Stage:
        stage = Stage(name, start, max(start, end), dict(attributes), error)
        self.stages.append(stage)
        return stage

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Stage]:
        """Time the block as stage ``name``; an exception marks it failed and goes on."""
        stage = Stage(name, time.time(), 0.0, dict(attributes))
        try:
            yield stage
        except BaseException as exc:
            stage.error = f"{type(exc).__name__}: {exc}"[:1000]
            raise
        finally:
            stage.end = time.time()
            self.stages.append(stage)

    def ordered(self) -> list[Stage]:
        return sorted(self.stages, key=lambda s: (s.start, s.end))


def _ns(t: float) -> int:
    return int(t * 1e9)


def _value(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


def log_trace(
    tracker: Any,
    experiment_id: str,
    run_id: str,
    timeline: Timeline,
    attributes: dict[str, Any] | None = None,
    inputs: Any = None,
    outputs: Any = None,
) -> str | None:
    """Write the timeline as a trace on ``run_id``; return its id (None: nothing to trace)."""
    stages = timeline.ordered()
    if not stages:
        return None
    from mlflow.entities import SpanEvent, SpanStatusCode

    client = tracker.client
    bind_store(tracker.uri)
    start = min(s.start for s in stages)
    end = max(s.end for s in stages)
    failed = next((s for s in stages if s.error), None)
    root = client.start_trace(
        ROOT,
        span_type="CHAIN",
        inputs=inputs,
        attributes={k: _value(v) for k, v in (attributes or {}).items()},
        experiment_id=experiment_id,
        start_time_ns=_ns(start),
        run_id=run_id,
    )
    trace_id = root.trace_id
    for s in stages:
        span = client.start_span(
            s.name,
            trace_id,
            root.span_id,
            attributes={k: _value(v) for k, v in s.attributes.items()},
            start_time_ns=_ns(s.start),
        )
        if s.error:
            # SpanEvent is a dataclass that mypy sees as abstract (a classmethod stub)
            event = SpanEvent("exception", _ns(s.end), {"exception.message": s.error})  # type: ignore[abstract]
            span.add_event(event)
        client.end_span(
            trace_id,
            span.span_id,
            status=SpanStatusCode.ERROR if s.error else SpanStatusCode.OK,
            end_time_ns=_ns(s.end),
        )
    client.end_trace(
        trace_id,
        outputs=outputs,
        status=SpanStatusCode.ERROR if failed else SpanStatusCode.OK,
        end_time_ns=_ns(end),
    )
    client.set_tag(run_id, S.TRACE_ID, trace_id)  # the run's trace, found without a search
    return trace_id


def trace_generation(
    tracker: Any,
    experiment_id: str,
    run_id: str,
    timeline: Timeline,
    record: Any,
    *,
    result: Any = None,
    cost: float | None = None,
    rendered: tuple[float, float] | None = None,
    prompt_version: Any = None,
) -> str | None:
    """The trace of one generation run (``record``: its ``tracking.generation.GenerationRecord``,
    ``result``: what the host returned, if anything): the root's attributes say host, model,
    request hash, seed, variant, job id, cost and prompt version; ``rendered`` adds the
    ``render`` stage. The trace is linked to its prompt version (``prompt_version``, else the
    one the record's ``veolab.prompt`` names; done by :func:`link_prompts`), so the version's
    page lists its traces. None when tracing is off."""
    if not enabled():
        return None
    if rendered is not None:
        timeline.add("render", *rendered, template=record.template)
    request = record.request
    attributes = {
        "veolab.host": record.provider,
        "veolab.model": record.model,
        "veolab.request_hash": request.request_hash(),
        "veolab.seed": request.seed,
        "veolab.variant": record.variant_label,
        "veolab.job_id": getattr(result, "request_id", None) or "",
        "veolab.cost_usd": cost if cost is not None else 0.0,
    }
    prompt = record.extra_tags.get(S.PROMPT)
    if prompt:
        attributes["veolab.prompt"] = prompt
    trace_id = log_trace(
        tracker,
        experiment_id,
        run_id,
        timeline,
        attributes=attributes,
        inputs={"prompt": request.prompt, "seed": request.seed},
        outputs={"run_id": run_id},
    )
    if trace_id and prompt:
        from veolab.tracking.prompts import version_of

        version = prompt_version if prompt_version is not None else version_of(tracker, prompt)
        if version is not None:
            with _bind_lock:
                _unlinked.append((tracker, version, trace_id))
    return trace_id


def link_prompts(warnings: list[str] | None = None) -> int:
    """Link the traces written so far to their prompt versions (after :func:`flush`: MLflow
    links only a trace it has stored, and it stores them in the background); return how many.
    A failure is a line in ``warnings``."""
    with _bind_lock:
        todo = list(_unlinked)
        _unlinked.clear()
    if not todo:
        return 0
    flush()
    done = 0
    for tracker, version, trace_id in todo:
        try:
            tracker.client.link_prompt_versions_to_trace([version], trace_id)
            done += 1
        except Exception as exc:  # noqa: BLE001 - the trace is there, only its link is not
            if warnings is not None:
                warnings.append(f"trace {trace_id} not linked to {version.uri}: {exc}")
    return done


def bind_store(uri: str) -> None:
    """Point MLflow's trace exporter at ``uri``.

    MLflow builds its exporter once, for the tracking URI of that moment (the global one, not
    the client's), so a process that writes to another store (``--tracking-uri``, or tests,
    each with its own) would send its traces to the wrong one: rebuild it when the store changes.
    This sets MLflow's global tracking URI (and ``MLFLOW_TRACKING_URI``) to ``uri``.
    """
    global _bound_uri
    import mlflow

    with _bind_lock:
        if _bound_uri == uri and mlflow.get_tracking_uri() == uri:
            return
        if _bound_uri is not None:
            mlflow.flush_trace_async_logging()
        mlflow.set_tracking_uri(uri)  # this also resets MLflow's tracer: rebuilt on next use
        _bound_uri = uri


def flush() -> None:
    """Wait until MLflow has written every trace logged so far."""
    import mlflow

    mlflow.flush_trace_async_logging()
