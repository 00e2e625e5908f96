"""The statistics behind ``veolab compare``: small samples, said plainly.

    >>> s = mean_ci([1.0, 2.0, 3.0])
    >>> s.n, s.mean, round(s.lo, 3), round(s.hi, 3)
    (3, 2.0, -0.484, 4.484)
    >>> compare_samples({1: 1.0, 2: 1.1, 3: 0.9}, {1: 3.0, 2: 3.2, 3: 2.9}).verdict
    'higher'
    >>> compare_samples({1: 1.0, 2: 1.1}, {1: 3.0, 2: 3.2}).verdict
    'too few runs'

- ``mean_ci``: mean with a Student-t 95% confidence interval (needs n >= 2).
- ``bootstrap_diff``: difference of means (other - baseline) with a percentile bootstrap CI,
  resampling each group independently; seeded, so the same data give the same interval; and
  Welch's t-test, because a percentile bootstrap of 3 values is too narrow to trust alone.
- ``paired_diff``: where both groups ran the same seeds, the per-seed differences: their mean,
  a t interval, and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``'s numbers, from
  ``_dist``: importing ``scipy.stats`` would cost more than a second).
- ``compare_samples``: both, and a verdict: ``higher``, ``lower``, ``no clear difference`` or
  ``too few runs``. Below ``MIN_N`` runs a group, no verdict is given. Unpaired, a difference is
called when the bootstrap interval excludes 0 and Welch's p < 0.05. The signed-rank test is
  used for the verdict only with at least ``MIN_PAIRS`` pairs (with 5 pairs its smallest
  two-sided p is 0.0625, so it could never reach 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from veolab.compare._dist import t_ppf, welch_t_p, wilcoxon_p

LEVEL = 0.95
ALPHA = 0.05
MIN_N = 3  # runs per group below which no verdict is given
MIN_PAIRS = 6  # pairs below which the signed-rank test cannot reach p < 0.05
N_BOOT = 4000

HIGHER, LOWER, SAME, TOO_FEW = "higher", "lower", "no clear difference", "too few runs"


def _clean(values: Sequence[float | None] | np.ndarray) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def _num(x: float) -> float | None:
    """A float for JSON: NaN becomes None."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class Summary:
    """Mean of one metric in one group, with its 95% confidence interval (None below n=2)."""

    n: int
    mean: float | None
    lo: float | None
    hi: float | None
    sd: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# metrics that live on a bounded scale: their intervals are clipped to it
BOUNDS: dict[str, tuple[float, float]] = {"human_score": (1.0, 5.0), "repro_score": (0.0, 1.0)}


def mean_ci(
    values: Sequence[float | None], level: float = LEVEL, bounds: tuple[float, float] | None = None
) -> Summary:
    """Mean and Student-t confidence interval of the finite values (clipped to ``bounds``)."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, None, None, None)
    sd = float(x.std(ddof=1))
    half = t_ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Summary(n, mean, lo, hi, sd)


@dataclass
class Diff:
    """other - baseline: the difference of means, its bootstrap interval, Welch's t-test p."""

    diff: float | None
    lo: float | None
    hi: float | None
    welch_p: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)


def bootstrap_diff(
    baseline: Sequence[float | None],
    other: Sequence[float | None],
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> Diff:
    """Difference of means (other - baseline) with a percentile bootstrap interval."""
    a, b = _clean(baseline), _clean(other)
    if len(a) == 0 or len(b) == 0:
        return Diff(None, None, None)
    diff = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return Diff(diff, None, None)
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    mb = b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(axis=1)
    lo, hi = np.quantile(mb - ma, [(1 - level) / 2, (1 + level) / 2])
    return Diff(diff, float(lo), float(hi), welch_p(a, b))


def welch_p(
    a: Sequence[float | None] | np.ndarray,
    b: Sequence[float | None] | np.ndarray,
) -> float | None:
    """Two-sided p of Welch's t-test; 1.0 when both groups are constant and equal."""
    x, y = _clean(a), _clean(b)
    if len(x) < 2 or len(y) < 2:
        return None
    if x.std() == 0 and y.std() == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    return _num(welch_t_p(y, x))


@dataclass
class Paired:
    """Per-seed differences (other - baseline) over the seeds both groups ran."""

    n_pairs: int
    diff: float | None
    lo: float | None
    hi: float | None
    p_value: float | None  # Wilcoxon signed-rank, two-sided

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)


def paired_diff(
    baseline: Mapping[Any, float | None], other: Mapping[Any, float | None], level: float = LEVEL
) -> Paired:
    """Pair the two groups by key (the seed); mean difference, t interval, signed-rank p."""
    keys = [k for k in baseline if k in other and _finite(baseline[k]) and _finite(other[k])]
    diffs = [float(other[k]) - float(baseline[k]) for k in keys]  # type: ignore[arg-type]
    d = np.array(diffs, dtype=np.float64)
    n = len(d)
    if n == 0:
        return Paired(0, None, None, None, None)
    s = mean_ci(list(d), level)
    if n < 2:
        return Paired(n, s.mean, None, None, None)
    if np.all(d == 0):
        p = 1.0  # every pair identical: nothing to test
    else:
        p = wilcoxon_p(d)
    return Paired(n, s.mean, s.lo, s.hi, _num(p))


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(float(v))


@dataclass
class ABResult:
    """One metric of one group against the baseline."""

    metric: str
    baseline: str
    group: str
    n_baseline: int
    n_group: int
    unpaired: Diff
    paired: Paired
    verdict: str
    method: str  # "paired" or "bootstrap" or "" (which test gave the verdict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "group": self.group,
            "n_baseline": self.n_baseline,
            "n_group": self.n_group,
            "diff": self.unpaired.diff,
            "diff_lo": self.unpaired.lo,
            "diff_hi": self.unpaired.hi,
            "welch_p": self.unpaired.welch_p,
            "n_pairs": self.paired.n_pairs,
            "paired_diff": self.paired.diff,
            "paired_lo": self.paired.lo,
            "paired_hi": self.paired.hi,
            "wilcoxon_p": self.paired.p_value,
            "verdict": self.verdict,
            "method": self.method,
            "notes": list(self.notes),
        }


Samples = Mapping[Any, float | None] | Sequence[tuple[Any, float | None]]


def _pairs(x: Samples) -> list[tuple[Any, float | None]]:
    return list(x.items()) if isinstance(x, Mapping) else list(x)


def _by_key(pairs: list[tuple[Any, float | None]]) -> dict[Any, float]:
    """Mean value per key (a seed run twice counts once in the pairing)."""
    acc: dict[Any, list[float]] = {}
    for k, v in pairs:
        if k is not None and _finite(v):
            acc.setdefault(k, []).append(float(v))  # type: ignore[arg-type]
    return {k: float(np.mean(v)) for k, v in acc.items()}


def compare_samples(
    baseline: Samples,
    other: Samples,
    *,
    metric: str = "",
    baseline_label: str = "baseline",
    group_label: str = "group",
    alpha: float = ALPHA,
    seed: int = 0,
) -> ABResult:
    """A/B of one metric. ``baseline`` and ``other``: ``{seed: value}`` or ``[(seed, value)]``.

    Every value is a sample of the unpaired comparison; values of the same seed in both groups
    form the pairs. The verdict comes from the paired signed-rank test when there are at least
    ``MIN_PAIRS`` pairs (significant when p < alpha), else from the unpaired difference of means
    (significant when its bootstrap interval excludes 0 and Welch's p < alpha); no verdict below
    ``MIN_N`` runs a group.
    """
    pa, pb = _pairs(baseline), _pairs(other)
    a, b = [v for _, v in pa], [v for _, v in pb]
    na, nb = len(_clean(a)), len(_clean(b))
    unpaired = bootstrap_diff(a, b, seed=seed)
    paired = paired_diff(_by_key(pa), _by_key(pb))
    notes: list[str] = []
    method = ""
    if min(na, nb) < MIN_N:
        verdict = TOO_FEW
        notes.append(
            f"n={na} vs n={nb}: at least {MIN_N} runs a group are needed to conclude "
            "anything; add seeds"
        )
    elif paired.n_pairs >= MIN_PAIRS and paired.p_value is not None:
        method = "paired"
        if paired.p_value < alpha and paired.diff:
            verdict = HIGHER if paired.diff > 0 else LOWER
        else:
            verdict = SAME
    else:
        method = "bootstrap"
        welch_ok = unpaired.welch_p is not None and unpaired.welch_p < alpha
        if unpaired.excludes_zero and welch_ok and unpaired.diff:
            verdict = HIGHER if unpaired.diff > 0 else LOWER
        else:
            verdict = SAME
        if 0 < paired.n_pairs < MIN_PAIRS:
            notes.append(
                f"{paired.n_pairs} paired seeds: the signed-rank test needs "
                f"{MIN_PAIRS} to reach p<{alpha:g}"
            )
    if verdict != TOO_FEW and min(na, nb) < 10:
        notes.append(f"small sample (n={na} vs n={nb}): treat as a hint")
    return ABResult(
        metric, baseline_label, group_label, na, nb, unpaired, paired, verdict, method, notes
    )


__all__ = [
    "ABResult",
    "Diff",
    "Paired",
    "Summary",
    "bootstrap_diff",
    "compare_samples",
    "mean_ci",
    "paired_diff",
    "HIGHER",
    "LOWER",
    "SAME",
    "TOO_FEW",
    "MIN_N",
    "MIN_PAIRS",
]
