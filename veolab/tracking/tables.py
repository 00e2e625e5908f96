"""A sweep's plan as an MLflow dataset, and its results as an MLflow table.

    inputs = log_plan(tracker, sweep_run_id, rows, name="quickstart plan", source="q.yaml")
    tracker.log_inputs(generation_run_id, inputs)     # each generation of the sweep
    log_results(tracker, sweep_run_id, runs)          # results.json, one row per generation

The plan: one row per planned run (``schema.PLAN_COLUMNS``: index, variant, its label and name,
the template variables as JSON, seed, host and model, request hash, rendered prompt, template,
estimated cost), logged with ``mlflow.data.from_pandas`` as the input (context ``plan``) of the
sweep run and of each of its generation runs, so MLflow's Dataset column names the plan a run
came from (a plan logged again unchanged has the same digest). MLflow keeps a dataset's schema,
row count and digest, not its rows: the rows are also the sweep's ``plan.json``. The results
(``results.json``): one row per generation of the sweep. Both tables are ``mlflow.log_table``
artifacts, which the Artifacts tab shows as tables.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from veolab.tracking import schema as S
from veolab.tracking.store import Tracker


def log_plan(
    tracker: Tracker,
    run_id: str,
    rows: list[dict[str, Any]],
    *,
    name: str,
    source: str | None,
    log: bool = True,
) -> list[Any]:
    """The plan's rows (:func:`plan_row`) as ``run_id``'s input dataset ``name`` (from
    ``source``, the experiment file) and its ``plan.json``; returns the input, for
    :meth:`Tracker.log_inputs` on each generation run. ``log=False``: only the input (a
    worker joining a sweep run its colleague logged the plan to)."""
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    frame = pd.DataFrame(rows, columns=list(S.PLAN_COLUMNS))
    where = {"source": source} if source else {}  # none: MLflow names the code that ran
    with warnings.catch_warnings():
        # MLflow's schema inference advises models against integer columns (index, seed)
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        # a path source is "a local artifact" twice over in MLflow's registry: the same answer
        warnings.filterwarnings("ignore", message="The specified dataset source can be interp")
        entity = from_pandas(frame, name=name, **where)._to_mlflow_entity()
    context = InputTag(MLFLOW_DATASET_CONTEXT, S.DATASET_CONTEXT)
    inputs = [DatasetInput(entity, tags=[context])]
    if log:
        tracker.log_inputs(run_id, inputs)
        tracker.log_table(run_id, frame, S.ART_PLAN)
    return inputs


def plan_row(
    index: int,
    *,
    variant: str,
    label: str,
    name: str | None,
    vars: dict[str, Any],
    seed: int | None,
    request_hash: str,
    prompt: str,
    template: str,
    estimated_cost: float,
    provider: str = "",
    model: str = "",
) -> dict[str, Any]:
    """One row of the plan dataset (its columns: ``schema.PLAN_COLUMNS``)."""
    return {
        "index": index,
        "variant": variant,
        "variant_label": label,
        "variant_name": name or "",
        "vars": json.dumps(vars, sort_keys=True, default=str),
        "seed": seed,
        "provider": provider,
        "model": model,
        "request_hash": request_hash,
        "prompt": prompt,
        "template": template,
        "estimated_cost_usd": estimated_cost,
    }


def result_rows(runs: list[Any]) -> list[dict[str, Any]]:
    """One row per generation run (MLflow ``Run`` s), by variant label and seed: its ids,
    variant, seed, outcome, checks, cost, latency and rating (as they were when it was logged:
    ``veolab runs`` and ``compare`` read the ratings made since), then every metric by name."""
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        seed = tags.get(S.SEED, "")
        passed = tags.get(S.CHECKS_PASSED_TAG)
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "variant": tags.get(S.VARIANT, ""),
            "variant_label": tags.get(S.VARIANT_LABEL, ""),
            "seed": int(seed) if seed.isdigit() else None,
            "status": run.info.status,
            "source": tags.get(S.SOURCE, ""),
            "request_hash": tags.get(S.REQUEST_HASH, ""),
            "provider_request_id": tags.get(S.PROVIDER_REQUEST_ID, ""),
            "checks_passed": None if passed is None else passed == "true",
            "failed_checks": tags.get(S.FAILED_CHECKS, ""),
            "error": tags.get(S.ERROR_CLASS, ""),
            "cost_usd": metrics.get(S.COST),
            "latency_s": metrics.get(S.LATENCY_TOTAL),
            "human_score": metrics.get(S.HUMAN_SCORE),
            "rating_note": tags.get(S.RATING_NOTE, ""),
        }
        row |= {k: v for k, v in sorted(metrics.items()) if k not in row}
        rows.append(row)
    rows.sort(key=lambda r: (r["variant_label"], r["seed"] if r["seed"] is not None else -1))
    return rows


def log_results(tracker: Tracker, run_id: str, runs: list[Any]) -> None:
    """``results.json`` on ``run_id``: :func:`result_rows` of ``runs`` as an MLflow table."""
    import pandas as pd

    rows = result_rows(runs)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tracker.log_table(run_id, pd.DataFrame(rows, columns=columns), S.ART_RESULTS)


__all__ = ["log_plan", "log_results", "plan_row", "result_rows"]
