"""The generation runs of an experiment, a sweep or a rerun, as ``veolab runs`` lists them.

    listing = list_runs("quickstart", status="failed")
    [(r.run_id, r.variant, r.seed, r.status) for r in listing.runs]

``target`` is an experiment name (its runs from every sweep), a sweep's run id (that sweep's
runs), the parent run id of a ``veolab rerun`` (the runs it made), each id whole or a unique
prefix of at least 4 characters, or None: the experiment whose newest generation is the most
recent in the store. Reruns are measurements of another run, not samples: an experiment's or a
sweep's listing leaves them out and names their parents in ``rerun_parents``.

Rows come sweep by sweep (oldest sweep first), each by variant label and seed. The filters:
``status`` (MLflow's: finished, failed, running, killed), ``variant`` (a variant id, name or
label), ``seeds``, ``failed`` (the run failed or failed a check) and ``limit`` (the newest N).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.store import MIN_PREFIX, RUN_ID_LENGTH, Tracker, existing_store

STATUSES = ("finished", "failed", "running", "killed", "scheduled")
_RUN_REF = re.compile(rf"[0-9a-fA-F]{{{MIN_PREFIX},{RUN_ID_LENGTH}}}")


@dataclass
class RunRow:
    """One generation run. ``checks_passed`` is None when the run has no checks (it failed)."""

    run_id: str
    parent_run_id: str | None
    variant: str
    label: str
    name: str | None
    seed: int | None
    status: str  # finished, failed, running, killed (MLflow's, in lower case)
    checks_passed: bool | None
    failed_checks: list[str]
    cost_usd: float | None
    human_score: float | None
    rating_note: str | None
    rerun_of: str | None
    request_hash: str
    start_time: int | None  # milliseconds since the epoch

    @property
    def failed(self) -> bool:
        """Failed, or finished with a failed check."""
        return self.status == "failed" or self.checks_passed is False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunListing:
    """What ``list_runs`` found: the rows after the filters, and where they came from."""

    experiment: str
    experiment_id: str
    parent_run_id: str | None  # the sweep or rerun the target named, if it named one
    parent_kind: str | None  # "sweep" or "rerun"
    runs: list[RunRow]
    total: int  # the target's runs before the filters
    latest: bool = False  # no target was given: the most recent experiment
    variants: dict[str, str] = field(default_factory=dict)  # variant id -> label, in row order
    rerun_parents: list[str] = field(default_factory=list)  # reruns of these runs, not listed

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "parent_kind": self.parent_kind,
            "total": self.total,
            "shown": len(self.runs),
            "runs": [r.to_dict() for r in self.runs],
            "variants": self.variants,
            "rerun_parents": self.rerun_parents,
        }


def list_runs(
    target: str | None = None,
    *,
    tracker: Tracker | None = None,
    status: str | None = None,
    variant: str | None = None,
    seeds: tuple[int, ...] | list[int] = (),
    failed: bool = False,
    limit: int | None = None,
) -> RunListing:
    """The generation runs ``target`` names, filtered (see the module's docstring)."""
    tracker = tracker or existing_store()
    if status is not None and status.lower() not in STATUSES:
        raise ConfigError(f"--status {status}: give one of {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: give 1 or more")
    listing = _resolve(tracker, target)
    flt = f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'"
    if listing.parent_run_id:
        flt += f" AND tags.`{S.PARENT_RUN_ID}` = '{listing.parent_run_id}'"
    rows = [_row(r) for r in tracker.search(listing.experiment_id, flt)]
    if listing.parent_kind != S.KIND_RERUN:
        listing.rerun_parents = list(
            dict.fromkeys(r.parent_run_id for r in _by_time(rows) if r.rerun_of and r.parent_run_id)
        )
        rows = [r for r in rows if not r.rerun_of]
    listing.total = len(rows)
    if variant is not None:
        every = rows
        rows = [r for r in rows if variant in (r.variant, r.label, r.name)]
        if not rows and every:
            raise ConfigError(
                f"--variant {variant!r} is none of {listing.experiment}'s variants: give an id, "
                f"name or label ({_variant_hint(every)})"
            )
    if status is not None:
        rows = [r for r in rows if r.status == status.lower()]
    if seeds:
        rows = [r for r in rows if r.seed in set(seeds)]
    if failed:
        rows = [r for r in rows if r.failed]
    if limit is not None:
        rows = _by_time(rows)[-limit:]
    listing.runs = _in_sweep_order(rows)
    listing.variants = {r.variant: r.label for r in listing.runs}
    return listing


def _resolve(tracker: Tracker, target: str | None) -> RunListing:
    if target is None:
        return _latest(tracker)
    exp_id = tracker.experiment_id(target, create=False)
    if exp_id is not None:
        return RunListing(target, exp_id, None, None, [], 0)
    run = tracker.find_run(target) if _RUN_REF.fullmatch(target) else None
    if run is None:
        names = [n for n in tracker.experiment_names() if n != "Default"]
        hint = f"experiments in {tracker.uri}: {', '.join(names)}" if names else "none yet"
        raise ConfigError(
            f"no experiment, sweep or rerun named {target!r} ({hint}); "
            "set --tracking-uri or MLFLOW_TRACKING_URI for another store"
        )
    rid, tags = run.info.run_id, run.data.tags
    kind = tags.get(S.KIND)
    name = tracker.experiment_name(run.info.experiment_id)
    if kind == S.KIND_GENERATION:
        parent = tags.get(S.PARENT_RUN_ID)
        raise ConfigError(
            f"{rid} is a generation run, not a sweep: veolab runs {parent or name} lists "
            f"{'its sweep' if parent else 'its experiment'}"
        )
    if kind not in (S.KIND_SWEEP, S.KIND_RERUN):
        raise ConfigError(f"{rid} is not a veolab run: veolab runs {name!r} lists its experiment")
    return RunListing(name, run.info.experiment_id, rid, kind, [], 0)


def _latest(tracker: Tracker) -> RunListing:
    """The experiment whose newest generation run is the most recent in the store."""
    newest = tracker.newest_run(f"tags.`{S.KIND}` = '{S.KIND_GENERATION}'")
    if newest is None:
        raise ConfigError(
            f"{tracker.uri} holds no veolab runs yet: veolab run <experiment file> first, "
            "or set --tracking-uri or MLFLOW_TRACKING_URI for another store"
        )
    exp_id = newest.info.experiment_id
    return RunListing(tracker.experiment_name(exp_id), exp_id, None, None, [], 0, latest=True)


def _row(run) -> RunRow:
    tags, info, metrics = run.data.tags, run.info, run.data.metrics
    passed = tags.get(S.CHECKS_PASSED_TAG)
    seed = tags.get(S.SEED)
    return RunRow(
        run_id=info.run_id,
        parent_run_id=tags.get(S.PARENT_RUN_ID),
        variant=tags.get(S.VARIANT, ""),
        label=tags.get(S.VARIANT_LABEL) or tags.get(S.VARIANT, "") or "default",
        name=tags.get(S.VARIANT_NAME),
        seed=int(seed) if seed and seed.lstrip("-").isdigit() else None,
        status=(info.status or "").lower(),
        checks_passed=None if passed is None else passed == "true",
        failed_checks=[c for c in (tags.get(S.FAILED_CHECKS) or "").split(",") if c],
        cost_usd=metrics.get(S.COST),
        human_score=metrics.get(S.HUMAN_SCORE),
        rating_note=tags.get(S.RATING_NOTE),
        rerun_of=tags.get(S.RERUN_OF),
        request_hash=tags.get(S.REQUEST_HASH, ""),
        start_time=info.start_time,
    )


def _by_time(rows: list[RunRow]) -> list[RunRow]:
    return sorted(rows, key=lambda r: (r.start_time or 0, r.run_id))


def _in_sweep_order(rows: list[RunRow]) -> list[RunRow]:
    """Sweep by sweep (by its first run's start), then by variant label, seed and start."""
    first: dict[str | None, int] = {}
    for r in _by_time(rows):
        first.setdefault(r.parent_run_id, r.start_time or 0)
    return sorted(
        rows,
        key=lambda r: (
            first[r.parent_run_id],
            r.parent_run_id or "",
            r.label,
            r.seed if r.seed is not None else -1,
            r.start_time or 0,
        ),
    )


def _variant_hint(rows: list[RunRow]) -> str:
    seen = {r.variant: r.name or r.label for r in _in_sweep_order(rows)}
    return "; ".join(f"{v}: {label}" for v, label in seen.items())


__all__ = ["STATUSES", "RunListing", "RunRow", "list_runs"]
