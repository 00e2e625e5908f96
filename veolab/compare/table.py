"""Group runs, summarise metrics and compare each group with a baseline.

    result = compare_runs("quickstart")                 # or a sweep's run id, or load_runs(...)
    result.to_dict()["ab"][0]["verdict"]
    # -> 'too few runs'
    result.to_dict()["ab"][0]["inconclusive"]
    # -> 'n=2 vs n=2: at least 3 runs a group are needed for a verdict; add seeds'

Groups are the variants (``by="variant"``) or the values of any swept key: the host or the model
(``provider``, ``model``), a template variable (``var.lighting``), a request param
(``resolution``), or any column of the run table (``tags.veolab.git_commit``). Groups follow
the order of the latest sweep's experiment file (named variants, then listed values), else
their labels (numbers numerically); the baseline is the first unless ``baseline`` names a
group by label, variant id, variant name or value.

Each group also says what it cost: its spend (the ``cost_usd`` of its runs, failed runs that
were billed included), the cost per generation (spend / runs) and the cost per usable clip
(spend / the generations that passed their checks and, where the experiment has review votes,
were never voted "both bad"): what a clip worth keeping costs on that host or model.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from veolab.compare.runs import RunTable, load_runs
from veolab.compare.stats import (
    BOUNDS,
    HIGHER,
    LOWER,
    MIN_N,
    TOO_FEW,
    ABResult,
    Summary,
    compare_samples,
    mean_ci,
)
from veolab.errors import ConfigError
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker, existing_store

# shown when present in the runs, in this order
DEFAULT_METRICS = (
    "colorfulness",
    "motion",
    "sharpness",
    "brightness_mean",
    "loudness_lufs",
    S.LATENCY_TOTAL,
    S.COST,
    S.HUMAN_SCORE,
    S.REPRO_SCORE,
)
ALIASES = {
    "loudness": "loudness_lufs",
    "latency": S.LATENCY_TOTAL,
    "cost": S.COST,
    "brightness": "brightness_mean",
    "human": S.HUMAN_SCORE,
    "score": S.HUMAN_SCORE,
    "repro": S.REPRO_SCORE,
}


# Which way is better, for the metrics that have a better way. A "higher" or "lower" verdict on
# one of these is shown as better (green) or worse (red); on the others (brightness, motion,
# loudness, cuts, colourfulness: what the prompt asks for) it is a difference, uncoloured.
LOWER_IS_BETTER = frozenset(
    {
        S.COST,
        S.LATENCY_TOTAL,
        S.LATENCY_QUEUED,
        S.LATENCY_GENERATING,
        S.LATENCY_DOWNLOADING,
        "black_fraction",
        "n_black_segments",
        "longest_black_s",
        "n_frozen_segments",
        "longest_frozen_s",
        "flicker",
        "silent_fraction",
        "checks_failed",
    }
)
HIGHER_IS_BETTER = frozenset(
    {
        S.HUMAN_SCORE,
        S.REPRO_SCORE,
        S.REPRO_PSNR,
        S.REPRO_PSNR_MIN,
        S.REPRO_SSIM,
        S.REPRO_SSIM_MIN,
        S.REPRO_IDENTICAL,
        S.REPRO_AUDIO_CORR,
        S.CHECKS_PASSED,
        "sharpness",
    }
)
BETTER, WORSE, DIFFERENT = "better", "worse", "different"


def judgement(metric: str, verdict: str) -> str | None:
    """``better``, ``worse`` or ``different`` for a higher/lower verdict on ``metric``, else None.

    >>> judgement("cost_usd", "lower"), judgement("human_score", "lower")
    ('better', 'worse')
    >>> judgement("motion", "higher"), judgement("motion", "no clear difference")
    ('different', None)
    """
    if verdict not in (HIGHER, LOWER):
        return None
    if metric in HIGHER_IS_BETTER or metric.startswith(S.CHECK_PREFIX):
        return BETTER if verdict == HIGHER else WORSE
    if metric in LOWER_IS_BETTER:
        return BETTER if verdict == LOWER else WORSE
    return DIFFERENT


@dataclass
class Group:
    key: str
    label: str
    runs: int
    failures: int
    checks_passed: int
    checks_total: int
    seeds: list[int]
    run_ids: list[str]
    summaries: dict[str, Summary] = field(default_factory=dict)
    variant_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    spend: float = 0.0  # USD the group's runs were billed
    usable: int = 0  # generations that passed their checks and were not voted "both bad"
    voted_bad: int = 0  # passed their checks, but a reviewer voted them "both bad"

    @property
    def check_pass_rate(self) -> float | None:
        return self.checks_passed / self.checks_total if self.checks_total else None

    @property
    def cost_per_generation(self) -> float | None:
        return self.spend / self.runs if self.runs else None

    @property
    def cost_per_usable(self) -> float | None:
        """Spend / usable clips; None when no clip is usable (nothing to divide by)."""
        return self.spend / self.usable if self.usable else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "runs": self.runs,
            "failures": self.failures,
            "check_pass_rate": self.check_pass_rate,
            "checks_passed": self.checks_passed,
            "seeds": self.seeds,
            "run_ids": self.run_ids,
            "variant_ids": self.variant_ids,
            "spend_usd": round(self.spend, 6),
            "usable": self.usable,
            "voted_both_bad": self.voted_bad,
            "cost_per_generation": _round(self.cost_per_generation),
            "cost_per_usable_clip": _round(self.cost_per_usable),
            "metrics": {m: s.to_dict() for m, s in self.summaries.items()},
        }


@dataclass
class CompareResult:
    experiment: str
    by: str
    metrics: list[str]
    groups: list[Group]
    baseline: str
    ab: list[ABResult]
    sweep_ids: list[str]
    notes: list[str] = field(default_factory=list)
    ranking: dict[str, Any] | None = None  # the review's ranking (compare.ranking), if votes

    def group(self, label: str) -> Group:
        return next(g for g in self.groups if g.label == label)

    def verdicts(self, group_label: str) -> list[ABResult]:
        return [a for a in self.ab if a.group == group_label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "by": self.by,
            "baseline": self.baseline,
            "metrics": self.metrics,
            "sweeps": self.sweep_ids,
            "groups": [g.to_dict() for g in self.groups],
            "ab": [a.to_dict() | {"inconclusive": inconclusive(a)} for a in self.ab],
            "notes": self.notes,
            "ranking": self.ranking,
        }

    def to_csv(self) -> str:
        """One row per group: counts, each metric's mean and CI, its A/B against the baseline."""
        cols = ["group", "runs", "failures", "check_pass_rate"]
        for m in self.metrics:
            cols += [
                f"{m}_n",
                f"{m}_mean",
                f"{m}_lo",
                f"{m}_hi",
                f"{m}_diff",
                f"{m}_diff_lo",
                f"{m}_diff_hi",
                f"{m}_welch_p",
                f"{m}_pairs",
                f"{m}_wilcoxon_p",
                f"{m}_verdict",
            ]
        cols += ["spend_usd", "usable", "cost_per_generation", "cost_per_usable_clip"]
        buf = io.StringIO()
        w = csv.DictWriter(buf, cols, lineterminator="\n")
        w.writeheader()
        for g in self.groups:
            row: dict[str, Any] = {
                "group": g.label,
                "runs": g.runs,
                "failures": g.failures,
                "check_pass_rate": _csv(g.check_pass_rate),
                "spend_usd": _csv(g.spend),
                "usable": g.usable,
                "cost_per_generation": _csv(g.cost_per_generation),
                "cost_per_usable_clip": _csv(g.cost_per_usable),
            }
            ab = {a.metric: a for a in self.verdicts(g.label)}
            for m in self.metrics:
                s = g.summaries[m]
                row |= {
                    f"{m}_n": s.n,
                    f"{m}_mean": _csv(s.mean),
                    f"{m}_lo": _csv(s.lo),
                    f"{m}_hi": _csv(s.hi),
                }
                if m in ab:
                    a = ab[m]
                    row |= {
                        f"{m}_diff": _csv(a.unpaired.diff),
                        f"{m}_diff_lo": _csv(a.unpaired.lo),
                        f"{m}_diff_hi": _csv(a.unpaired.hi),
                        f"{m}_welch_p": _csv(a.unpaired.welch_p),
                        f"{m}_pairs": a.paired.n_pairs,
                        f"{m}_wilcoxon_p": _csv(a.paired.p_value),
                        f"{m}_verdict": a.verdict,
                    }
            w.writerow(row)
        return buf.getvalue()


def _csv(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def inconclusive(a: ABResult) -> str | None:
    """Why a comparison has no verdict (``ab[].inconclusive`` in the JSON), None when it has one."""
    if a.verdict != TOO_FEW:
        return None
    return (
        f"n={a.n_baseline} vs n={a.n_group}: at least {MIN_N} runs a group are needed for a "
        "verdict; add seeds"
    )


def metric_name(name: str) -> str:
    name = name.removeprefix("metrics.")
    return ALIASES.get(name, name)


def group_column(frame, by: str) -> str:
    """The run-table column a ``--by`` key names."""
    if by in ("variant", "label"):
        return "variant"
    candidates = [by, f"params.{by}", f"tags.{by}", f"metrics.{by}"]
    for c in candidates:
        if c in frame.columns:
            return c
    swept = sorted(
        c.removeprefix("params.")
        for c in frame.columns
        if c.startswith("params.")
        and c not in ("params.prompt", "params.seed")
        and frame[c].nunique(dropna=True) > 1
    )
    raise ConfigError(
        f"--by {by!r} is not a key of these runs: use variant"
        + (f" or one of {', '.join(swept)}" if swept else "")
    )


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _seed(s: Any) -> int | None:
    return None if s is None or (isinstance(s, float) and math.isnan(s)) else int(s)


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def compare_runs(
    table: RunTable | str,
    *,
    by: str = "variant",
    metrics: list[str] | None = None,
    baseline: str | None = None,
    tracking_uri: str | None = None,
    all_sweeps: bool = False,
    ranking: bool = True,
) -> CompareResult:
    """Summaries per group and A/B verdicts against the baseline group.

    ``table`` is what ``veolab compare`` takes, an experiment name or a sweep's parent run id
    (loaded from ``tracking_uri``, else MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db;
    ``all_sweeps`` as ``--all-sweeps``), or a :class:`RunTable` already loaded by ``load_runs``.
    When the experiment has review votes (``veolab review``), ``result.ranking`` is their
    ranking over these groups (``ranking=False`` skips looking).
    """
    table = as_run_table(table, tracking_uri=tracking_uri, all_sweeps=all_sweeps)
    frame = table.frame
    group_column(frame, by)  # an unknown --by is reported before an unknown --metric
    if metrics:
        names = list(dict.fromkeys(metric_name(m) for m in metrics))
        unknown = [m for m in names if f"metrics.{m}" not in frame.columns]
        if unknown:
            have = sorted(
                c.removeprefix("metrics.") for c in frame.columns if c.startswith("metrics.")
            )
            raise ConfigError(
                f"no run has the metric {unknown[0]!r}: choose from {', '.join(have)}"
            )
    else:
        names = [
            m
            for m in DEFAULT_METRICS
            if f"metrics.{m}" in frame.columns and frame[f"metrics.{m}"].notna().any()
        ]

    groups: list[Group] = []
    values: dict[str, dict[str, list[tuple[Any, float | None]]]] = {}
    voted_bad = _voted_both_bad(table.experiment_name) if ranking else set()
    for key_s, label, sub in group_runs(table, by):
        ok = sub[~sub["failed"]]
        checked = ok["checks_passed"].dropna()
        passed = ok[ok["checks_passed"].fillna(False).astype(bool)]
        bad = int(passed["run_id"].isin(voted_bad).sum())
        costs = sub[f"metrics.{S.COST}"] if f"metrics.{S.COST}" in sub else []
        g = Group(
            key=key_s,
            label=label,
            runs=len(sub),
            failures=int(sub["failed"].sum()),
            checks_passed=int(checked.astype(bool).sum()),
            checks_total=len(checked),
            seeds=sorted({int(s) for s in sub["seed"].dropna()}),
            run_ids=sub["run_id"].tolist(),
            variant_ids=list(dict.fromkeys(sub["variant"].tolist())),
            names=[n for n in dict.fromkeys(sub["name"].tolist()) if isinstance(n, str)],
            spend=float(sum(float(c) for c in costs if _finite(c))),
            usable=len(passed) - bad,
            voted_bad=bad,
        )
        values[label] = {}
        for m in names:
            c = f"metrics.{m}"
            pairs: list[tuple[Any, float | None]] = [
                (_seed(s), float(v))
                for s, v in zip(ok["seed"], ok[c] if c in ok else [], strict=False)
                if _finite(v)
            ]
            values[label][m] = pairs
            g.summaries[m] = mean_ci([v for _, v in pairs], bounds=BOUNDS.get(m))
        groups.append(g)

    base = _pick_baseline(groups, baseline, by)
    ab: list[ABResult] = []
    for g in groups:
        if g is base:
            continue
        for m in names:
            if not values[base.label][m] or not values[g.label][m]:
                continue  # a metric only one side has (a human score given to one variant)
            ab.append(
                compare_samples(
                    values[base.label][m],
                    values[g.label][m],
                    metric=m,
                    baseline_label=base.label,
                    group_label=g.label,
                )
            )
    notes = []
    if len(groups) < 2:
        notes.append("only one group: nothing to compare (is --by the key you swept?)")
    small = [g.label for g in groups if g.runs - g.failures < 3]
    if small:
        notes.append(
            f"fewer than 3 successful runs in {', '.join(small)}: the intervals are "
            "wide and no verdict is given; add seeds"
        )
    result = CompareResult(
        table.experiment_name, by, names, groups, base.label, ab, table.sweep_ids, notes
    )
    if ranking:
        from veolab.compare.ranking import votes_ranking

        result.ranking = votes_ranking(table.experiment_name, by, groups)
    return result


def _voted_both_bad(experiment: str) -> set[str]:
    """The run ids a reviewer voted "both bad" (``veolab review``); empty without votes."""
    from veolab.review.probe import has_votes

    if not has_votes(experiment):
        return set()
    from veolab.review.ranking import BOTH_BAD
    from veolab.review.votes import VoteStore

    store = VoteStore()
    try:
        votes = store.votes(experiment)
    finally:
        store.close()
    return {rid for v in votes if v.choice == BOTH_BAD for rid in (v.left_run_id, v.right_run_id)}


def group_runs(table: RunTable, by: str = "variant") -> list[tuple[str, str, Any]]:
    """(key, label, the group's rows of ``table.frame``) per group, in the order compare shows
    them; labels are the variants' labels, or ``<by>=<value>`` (``var.lighting=dark``)."""
    frame = table.frame
    col = group_column(frame, by)
    out: list[tuple[str, str, Any]] = []
    for key, sub in frame.groupby(col, sort=False, dropna=False):
        key_s = "" if key is None or (isinstance(key, float) and math.isnan(key)) else str(key)
        label = str(sub["label"].iloc[0]) if col == "variant" else f"{by}={key_s}"
        out.append((key_s, label, sub))
    out.sort(key=lambda g: _group_order(table, frame, col, g[0], g[1], g[2]["run_id"].iloc[0]))
    return out


def as_run_table(
    target: RunTable | str,
    *,
    tracking_uri: str | None = None,
    all_sweeps: bool = False,
    tracker: Tracker | None = None,
) -> RunTable:
    """``target`` itself when it is a loaded :class:`RunTable`, else the runs it names."""
    if isinstance(target, RunTable):
        return target
    if isinstance(target, str):
        tracker = tracker or existing_store(tracking_uri)
        return load_runs(target, tracker=tracker, all_sweeps=all_sweeps)
    raise TypeError(
        "expected an experiment name, a sweep's run id or a RunTable (veolab.compare.load_runs), "
        f"not {type(target).__name__}"
    )


def _group_order(table: RunTable, frame, col: str, key: str, label: str, first_run: str) -> tuple:
    """The experiment file's order where it is known (variants, then listed values), else sorted."""
    order = table.order
    if col != "variant":
        values = order.get(col, [])
        pos = values.index(key) if key in values else len(values)
        return (pos, _sort_key(key))
    first = frame[frame["run_id"] == first_run].iloc[0]
    positions: list[int] = []
    for c, values in order.items():
        v = first.get(c) if c in frame.columns else None
        v = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        positions.append(values.index(v) if v in values else len(values))
    return (tuple(positions), _sort_key(label))


def _pick_baseline(groups: list[Group], baseline: str | None, by: str) -> Group:
    if baseline is None:
        return groups[0]
    for g in groups:
        if (
            baseline in (g.label, g.key, f"{by}={baseline}")
            or baseline in g.variant_ids
            or baseline in g.names
        ):
            return g
    raise ConfigError(
        f"--baseline {baseline!r} names no group: choose one of "
        + ", ".join(repr(g.label) for g in groups)
    )


__all__ = [
    "CompareResult",
    "DEFAULT_METRICS",
    "Group",
    "as_run_table",
    "compare_runs",
    "group_column",
    "group_runs",
    "inconclusive",
    "judgement",
    "metric_name",
]
