"""One MLflow trace per generation: the pipeline's stages as spans on the generation's run.

    timeline = Timeline()
    with timeline.span("claim"):
        ...
    timeline.add("generate", started, ended, seed=42)
    trace_id = log_trace(tracker, experiment_id, run_id, timeline, attributes={...})

The pipeline records what each stage took while it works (:class:`Timeline`: wall-clock times,
a few attributes, the error of a stage that failed); the trace is built afterwards, in memory,
with those times, so tracing adds no work inside a stage and a trace is never left open. The
root span ``generation`` spans the first to the last stage; a failed stage has status ERROR and
its error as an event, and the root is ERROR with it. The trace's ``mlflow.sourceRun`` is the
generation's run, so the run's Traces tab shows the timeline.

A writer thread stores the traces through the tracking store's own ``start_trace`` and
``log_spans`` (what MLflow's exporter calls), the spans of all waiting traces in one call, then
tags the run with its trace id and links the trace to its prompt version; :func:`flush` waits
for it (the sweep calls it once at the end). MLflow's OpenTelemetry exporter is not used: it
writes every few spans in a transaction of their own, 10 times the cost on SQLite (issue 13's
figure, bench/bench_tracing.py). ``VEOLAB_TRACING=0`` turns tracing off (:func:`enabled`).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import queue
import secrets
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


def new_trace_id() -> str:
    """A trace id in MLflow's form (``tr-`` and 32 hex digits)."""
    return "tr-" + secrets.token_hex(16)


@dataclass
class Timeline:
    """The stages one generation went through, with their wall-clock times, and the id its
    trace will have (known from the start, so the run can carry it in its own tags)."""

    stages: list[Stage] = field(default_factory=list)
    trace_id: str = field(default_factory=new_trace_id)

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


def _json(v: Any) -> str:
    return json.dumps(v, default=str, ensure_ascii=False)


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _span(
    trace_id: str,
    hex_trace: str,
    name: str,
    span_id: str,
    parent: str | None,
    start: float,
    end: float,
    attributes: dict[str, Any],
    *,
    span_type: str = "UNKNOWN",
    error: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One span as MLflow's ``Span.from_dict`` reads it (attribute values JSON-encoded, as
    MLflow's own spans store them)."""
    attrs = {
        "mlflow.traceRequestId": _json(trace_id),
        "mlflow.spanType": _json(span_type),
        **(extra or {}),
        **{k: _json(_value(v)) for k, v in attributes.items()},
    }
    return {
        "trace_id": _b64(hex_trace),
        "span_id": _b64(span_id),
        "parent_span_id": _b64(parent) if parent else None,
        "name": name,
        "start_time_unix_nano": _ns(start),
        "end_time_unix_nano": _ns(end),
        "events": [event] if (event := _error_event(error, end)) else [],
        "status": {
            "code": "STATUS_CODE_ERROR" if error else "STATUS_CODE_OK",
            "message": error or "",
        },
        "attributes": attrs,
        "links": [],
    }


def _error_event(error: str | None, at: float) -> dict[str, Any] | None:
    if not error:
        return None
    attributes = {"exception.message": error}
    return {"name": "exception", "time_unix_nano": _ns(at), "attributes": attributes}


@dataclass
class _Pending:
    """A trace built in memory, waiting for the writer."""

    tracker: Any
    experiment_id: str
    run_id: str
    info: Any  # mlflow.entities.TraceInfo
    spans: list[Any]  # mlflow.entities.Span
    prompt_version: Any = None
    run_tagged: bool = False


def run_tags(timeline: Timeline) -> dict[str, str]:
    """The tag that names the run's trace, to log with the run (nothing when tracing is off);
    then :func:`trace_generation` with ``run_tagged=True`` saves the writer a transaction."""
    return {S.TRACE_ID: timeline.trace_id} if enabled() else {}


def log_trace(
    tracker: Any,
    experiment_id: str,
    run_id: str,
    timeline: Timeline,
    attributes: dict[str, Any] | None = None,
    inputs: Any = None,
    outputs: Any = None,
    prompt_version: Any = None,
    run_tagged: bool = False,
) -> str | None:
    """Queue the timeline as a trace on ``run_id``; return its id (None: nothing to trace).

    The trace and its spans are built here, in memory (about a millisecond); the writer thread
    stores them (:func:`flush` waits for it), then tags the run with the trace's id unless
    ``run_tagged`` (the run was logged with it: :func:`run_tags`). ``prompt_version``: linked
    to the trace once it is stored."""
    stages = timeline.ordered()
    if not stages:
        return None
    from mlflow.entities import Span, TraceInfo, TraceLocation, TraceState

    trace_id = timeline.trace_id
    hex_trace = trace_id.removeprefix("tr-")
    root_id = secrets.token_hex(8)
    start = min(s.start for s in stages)
    end = max(s.end for s in stages)
    failed = next((s for s in stages if s.error), None)
    spans = [
        _span(
            trace_id,
            hex_trace,
            ROOT,
            root_id,
            None,
            start,
            end,
            attributes or {},
            span_type="CHAIN",
            error=failed.error if failed else None,
            extra={
                "mlflow.experimentId": _json(str(experiment_id)),
                "mlflow.spanInputs": _json(inputs),
                "mlflow.spanOutputs": _json(outputs),
            },
        )
    ]
    for s in stages:
        spans.append(
            _span(
                trace_id,
                hex_trace,
                s.name,
                secrets.token_hex(8),
                root_id,
                s.start,
                s.end,
                s.attributes,
                error=s.error,
            )
        )
    info = TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(str(experiment_id)),
        request_time=int(start * 1000),
        execution_duration=int((end - start) * 1000),
        state=TraceState.ERROR if failed else TraceState.OK,
        request_preview=_json(inputs)[:1000],
        response_preview=_json(outputs)[:1000],
        trace_metadata={
            "mlflow.sourceRun": run_id,
            "mlflow.traceInputs": _json(inputs)[:1000],
            "mlflow.traceOutputs": _json(outputs)[:1000],
            "mlflow.trace_schema.version": "3",
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": "veolab",
        },
        tags={"mlflow.traceName": ROOT},
    )
    if prompt_version is not None:
        from mlflow.tracing.constant import TraceTagKey
        from mlflow.tracing.utils.prompt import update_linked_prompts_tag

        info.tags[TraceTagKey.LINKED_PROMPTS] = update_linked_prompts_tag(None, [prompt_version])
    _writer().put(
        _Pending(
            tracker,
            str(experiment_id),
            run_id,
            info,
            [Span.from_dict(d) for d in spans],
            prompt_version,
            run_tagged,
        )
    )
    return trace_id


class _Writer:
    """One thread that stores queued traces: each trace's info in its own call, and the spans
    of every trace waiting at that moment in one ``log_spans`` call per experiment (MLflow's
    own exporter writes them a few at a time, each in its own transaction: ten times slower on
    SQLite). Then the run's ``veolab.trace_id`` tag and the prompt-version link."""

    def __init__(self) -> None:
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, item: _Pending) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._loop, name="veolab-traces", daemon=True)
                thread.start()
                self._thread = thread
        self._queue.put(item)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 64:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - never let the thread die
                self._fail(batch, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _fail(self, items: list[_Pending], exc: BaseException) -> None:
        with self._lock:
            for p in items:
                self._errors.append(
                    f"trace of run {p.run_id} not written: {type(exc).__name__}: {exc}"[:500]
                )

    def _write(self, batch: list[_Pending]) -> None:
        groups: dict[tuple[int, str], list[_Pending]] = {}
        for p in batch:
            groups.setdefault((id(p.tracker), p.experiment_id), []).append(p)
        for (_, experiment_id), items in groups.items():
            client = items[0].tracker.client
            store = client._tracking_client.store
            started: list[_Pending] = []
            for p in items:
                try:
                    p.info = store.start_trace(p.info)  # with the store's artifact location
                    started.append(p)
                except Exception as exc:  # noqa: BLE001 - one trace lost, not the batch
                    self._fail([p], exc)
            if not started:
                continue
            try:
                store.log_spans(experiment_id, [s for p in started for s in p.spans])
            except NotImplementedError:  # a store that keeps spans as artifacts
                from mlflow.entities import TraceData

                for p in started:
                    client._tracing_client._upload_trace_data(p.info, TraceData(spans=p.spans))
            for p in started:
                try:
                    if not p.run_tagged:
                        client.set_tag(p.run_id, S.TRACE_ID, p.info.trace_id)
                    if p.prompt_version is not None:
                        # the prompt version's page lists the traces of this association;
                        # the trace's own mlflow.linkedPrompts tag was written with it
                        store.link_prompts_to_trace(p.info.trace_id, [p.prompt_version])
                except Exception as exc:  # noqa: BLE001 - the trace is there, a link is not
                    with self._lock:
                        self._errors.append(
                            f"trace {p.info.trace_id} stored, not linked to its run or prompt: "
                            f"{type(exc).__name__}: {exc}"[:500]
                        )

    def drain(self) -> list[str]:
        """Wait until every queued trace is stored; return (and forget) what failed."""
        self._queue.join()
        with self._lock:
            errors, self._errors = self._errors, []
        return errors


_the_writer: _Writer | None = None


def _writer() -> _Writer:
    global _the_writer
    with _bind_lock:
        if _the_writer is None:
            _the_writer = _Writer()
            atexit.register(_the_writer.drain)
        return _the_writer


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
    run_tagged: bool = False,
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
    version = None
    if prompt:
        from veolab.tracking.prompts import version_of

        version = prompt_version if prompt_version is not None else version_of(tracker, prompt)
    return log_trace(
        tracker,
        experiment_id,
        run_id,
        timeline,
        attributes=attributes,
        inputs={"prompt": request.prompt, "seed": request.seed},
        outputs={"run_id": run_id},
        prompt_version=version,
        run_tagged=run_tagged,
    )


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


def flush(warnings: list[str] | None = None) -> None:
    """Wait until every trace logged so far is stored (with its run tag and prompt link); a
    trace that could not be is a line in ``warnings``. Also waits for MLflow's own trace queue
    (feedback and the fluent API use it)."""
    import mlflow

    errors = _writer().drain() if _the_writer is not None else []
    if warnings is not None:
        warnings.extend(errors)
    mlflow.flush_trace_async_logging()
