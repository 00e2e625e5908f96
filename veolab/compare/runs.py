"""Load an experiment's generation runs from MLflow into one table (a pandas DataFrame).

    runs = load_runs("quickstart")
    runs.frame[["label", "seed", "metrics.motion"]]

``target`` is an experiment name (every sweep of it) or a sweep's parent run id (that sweep's
children only). By default each request counts once: its latest FINISHED run, else its latest
FAILED one, so a sweep that re-ran requests with ``--force`` does not count them twice;
``all_sweeps=True`` keeps every run. Reruns (``veolab.rerun_of``) are measurements, not samples,
even with another ``--seed``: their reproducibility metrics are joined onto the run they reissued
(``repro_score`` and friends, the mean over same-seed reruns), and they are listed in
``RunTable.reruns``.

Columns, named as ``mlflow.search_runs`` names them: ``run_id``, ``parent_id``, ``status``,
``start_time``, ``params.<name>``, ``metrics.<name>``, ``tags.<name>``; plus the short
``variant``, ``label``, ``name``, ``seed``, ``request_hash``, ``provider``, ``model``,
``checks_passed`` (True, False or None for failed runs) and ``failed`` (the run itself FAILED).
A request is one per (provider, model): the same request on two models is two runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker, existing_store

RUN_ID = re.compile(r"^[0-9a-f]{4,32}$")  # a run id, or a unique prefix of one (Tracker.find_run)
REPRO_METRICS = (S.REPRO_SCORE, S.REPRO_PSNR, S.REPRO_SSIM, S.REPRO_IDENTICAL, S.REPRO_AUDIO_CORR)


@dataclass
class RunTable:
    """The runs of one comparison and where they came from."""

    experiment_name: str
    experiment_id: str
    frame: Any  # pandas.DataFrame, one row per run
    sweep_ids: list[str] = field(default_factory=list)  # parent runs the rows came from
    parent_run_id: str | None = None  # when the target was one sweep
    reruns: Any = None  # pandas.DataFrame of the rerun children
    order: dict[str, list[str]] = field(default_factory=dict)  # see experiment_order

    @property
    def latest_sweep_id(self) -> str | None:
        return self.parent_run_id or (self.sweep_ids[-1] if self.sweep_ids else None)

    def __len__(self) -> int:
        return len(self.frame)


def _row(run) -> dict[str, Any]:
    tags, info = run.data.tags, run.info
    row: dict[str, Any] = {
        "run_id": info.run_id,
        "parent_id": tags.get(S.PARENT_RUN_ID),
        "status": info.status,
        "start_time": info.start_time,
        "variant": tags.get(S.VARIANT, ""),
        "label": tags.get(S.VARIANT_LABEL) or tags.get(S.VARIANT, "") or "default",
        "name": tags.get(S.VARIANT_NAME),
        "seed": _int(tags.get(S.SEED)),
        "request_hash": tags.get(S.REQUEST_HASH, ""),
        "provider": tags.get(S.PROVIDER, ""),
        "model": tags.get(S.MODEL, ""),
        "rerun_of": tags.get(S.RERUN_OF),
        "failed": info.status == "FAILED",
    }
    passed = tags.get(S.CHECKS_PASSED_TAG)
    row["checks_passed"] = None if passed is None else passed == "true"
    for k, v in run.data.params.items():
        row[f"params.{k}"] = v
    for k, v in run.data.metrics.items():
        row[f"metrics.{k}"] = v
    for k, v in tags.items():
        row[f"tags.{k}"] = v
    return row


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v not in (None, "", "None") else None
    except ValueError:
        return None


def resolve_target(tracker: Tracker, target: str) -> tuple[str, str, str | None]:
    """(experiment name, experiment id, parent run id or None) for a name or a sweep's run id."""
    exp_id = tracker.experiment_id(target, create=False)
    if exp_id is not None:
        return target, exp_id, None
    if RUN_ID.match(target):
        run = tracker.find_run(target)
        if run is not None:
            kind = run.data.tags.get(S.KIND)
            if kind == S.KIND_RERUN:
                raise ConfigError(
                    f"{target} is the parent of a `veolab rerun`: compare the "
                    "experiment; its repro_score column shows the reruns"
                )
            if kind == S.KIND_GENERATION:
                raise ConfigError(
                    f"{target} is a generation run, not a sweep: pass its parent run id "
                    f"{run.data.tags.get(S.PARENT_RUN_ID, '')} or the experiment name"
                )
            exp_id = run.info.experiment_id
            return tracker.experiment_name(exp_id), exp_id, run.info.run_id
    names = _experiment_names(tracker)
    hint = (
        f"; experiments in {tracker.uri}: {', '.join(names)}"
        if names
        else f"; {tracker.uri} has none"
    )
    raise ConfigError(
        f"no experiment or sweep run named {target!r}{hint} "
        "(set --tracking-uri or MLFLOW_TRACKING_URI to another store)"
    )


def _experiment_names(tracker: Tracker) -> list[str]:
    return [n for n in tracker.experiment_names() if n != "Default"]


def load_runs(target: str, *, tracker: Tracker | None = None, all_sweeps: bool = False) -> RunTable:
    """The generation runs of an experiment (or of one sweep) as a :class:`RunTable`."""
    import pandas as pd

    tracker = tracker or existing_store()
    name, exp_id, parent = resolve_target(tracker, target)
    flt = f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'"
    runs = [
        r
        for r in tracker.search(exp_id, flt, order_by=["attributes.start_time ASC"])
        if r.info.status in ("FINISHED", "FAILED")
    ]
    rows = [_row(r) for r in runs]
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ConfigError(
            f"experiment {name!r} has no finished generation runs yet: "
            f"veolab run <experiment file> first"
        )
    is_rerun = frame["rerun_of"].notna()
    reruns = frame[is_rerun].copy()
    frame = frame[~is_rerun].copy()
    if parent:
        frame = frame[frame["parent_id"] == parent]
        if frame.empty:
            raise ConfigError(
                f"sweep {parent} has no generation runs of its own (every run was "
                f"already done in earlier sweeps): compare the experiment {name!r}"
            )
    if not all_sweeps:
        # latest FINISHED per request on each (host, model), else latest FAILED
        frame["_ok"] = ~frame["failed"]
        frame = (
            frame.sort_values(["_ok", "start_time"])
            .groupby(["provider", "model", "request_hash"], sort=False)
            .tail(1)
        )
        frame = frame.drop(columns="_ok").sort_values("start_time")
    frame = _join_repro(frame, reruns)
    sweeps = list(dict.fromkeys(p for p in frame["parent_id"].tolist() if p))
    table = RunTable(
        name, exp_id, frame.reset_index(drop=True), sweeps, parent, reruns.reset_index(drop=True)
    )
    if table.latest_sweep_id:
        table.order = experiment_order(tracker, table.latest_sweep_id)
    return table


def _param_text(v: Any) -> str:
    """A value as MLflow shows it in a param (see tracking.store._param_value)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(_param_text(x) for x in v)
    return str(v)


def experiment_order(tracker: Tracker, sweep_id: str) -> dict[str, list[str]]:
    """The order of values in the sweep's experiment.yaml: column -> values, first to last.

    Variant names (``name``), each listed ``var.<name>`` (in ``vars`` and ``zip``) and each
    listed param, as the plan expands them; empty when the file is not logged or unreadable.
    """
    import json
    import tempfile
    from pathlib import Path

    import yaml

    try:
        names = set(tracker.artifact_names(sweep_id))
        if S.ART_EXPERIMENT not in names:
            return {}
        with tempfile.TemporaryDirectory(prefix="veolab-compare-") as tmp:
            path = tracker.download(sweep_id, S.ART_EXPERIMENT, Path(tmp))
            data = yaml.safe_load(path.read_text()) or {}
    except Exception:  # noqa: BLE001 - the order is a nicety: fall back to sorting by label
        return {}
    if not isinstance(data, dict):
        return {}
    order: dict[str, list[str]] = {}
    variants = data.get("variants") or []
    if isinstance(variants, list):
        order["name"] = [str(v.get("name")) for v in variants if isinstance(v, dict)]
    for section in ("vars", "zip"):
        for key, value in (data.get(section) or {}).items():
            if isinstance(value, list):
                order[f"params.{S.VAR_PREFIX}{key}"] = [
                    _param_text(x if isinstance(x, str | int | float | bool) else json.dumps(x))
                    for x in value
                ]
    for key, value in (data.get("params") or {}).items():
        if isinstance(value, list) and key != "reference_images":
            order[f"params.{key}"] = [_param_text(x) for x in value]
    # the host and model axes (innermost in the plan): as listed
    blocks = data.get("provider")
    blocks = [
        b
        for b in (blocks if isinstance(blocks, list) else [blocks or {}])
        if isinstance(b, str | dict)
    ]
    hosts = [b if isinstance(b, str) else b.get("name", "sim") for b in blocks if b]
    models = data.get("model")
    if models is None:
        models = [m for b in blocks if isinstance(b, dict) for m in _listed(b.get("model"))]
    for col, values in (("provider", hosts), ("model", _listed(models))):
        if len(values) > 1:
            order[col] = [str(v) for v in dict.fromkeys(values)]
    return order


def _listed(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _join_repro(frame, reruns):
    """Each run gets the mean reproducibility of its same-seed reruns."""
    if reruns.empty:
        return frame
    same = reruns[
        reruns["seed"].values
        == reruns["rerun_of"].map(dict(zip(frame["run_id"], frame["seed"], strict=True))).values
    ]
    for m in REPRO_METRICS:
        col = f"metrics.{m}"
        if col not in same:
            continue
        means = same.groupby("rerun_of")[col].mean()
        frame[col] = frame["run_id"].map(means)
    frame["reruns"] = frame["run_id"].map(reruns.groupby("rerun_of").size()).fillna(0).astype(int)
    return frame


__all__ = ["RunTable", "load_runs", "resolve_target"]
