"""The three distributions ``veolab compare`` needs, in numpy and ``math`` (no SciPy import).

Importing ``scipy.stats`` costs 1.1 to 1.5 s, most of ``veolab compare``'s time; these functions
give SciPy's numbers (tests/compare/test_dist.py checks them against SciPy 1.17 on seeded inputs):

    >>> round(t_ppf(0.975, 2), 12)
    4.302652729749
    >>> round(welch_t_p([1.0, 1.1, 0.9], [3.0, 3.2, 2.9]), 9)
    0.000123352
    >>> wilcoxon_p([0.5, -1.0, 2.0, 3.0, 4.0, 5.0])
    0.09375

- ``t_sf(t, df)``: Student-t upper tail, ``0.5 * I_x(df/2, 1/2)`` with ``x = df / (df + t^2)``,
  the regularized incomplete beta from its continued fraction (modified Lentz), so a p of 1e-12
  keeps its digits (no ``1 - cdf``).
- ``t_ppf(q, df)``: its quantile, by Newton's method kept inside a bisection bracket.
- ``welch_t_p(a, b)``: two-sided p of Welch's t-test (``scipy.stats.ttest_ind(a, b,
  equal_var=False).pvalue``), fractional Welch-Satterthwaite degrees of freedom.
- ``wilcoxon_p(d)``: two-sided p of ``scipy.stats.wilcoxon(d)`` with its defaults
  (``method="auto"``, ``zero_method="wilcox"``, ``correction=False``), the same three ways:
  more than 50 differences: the normal approximation with the tie correction; otherwise without
  ties or zeros: the exact null distribution; with ties or zeros and at most 13 differences: the
  sign-flip permutation distribution, all 2**n of them (SciPy's ``permutation_test`` enumerates
  them because 2**13 < its 9999 resamples); with ties or zeros above 13: the normal approximation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_EPS = 1e-16
_TINY = 1e-300


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b) (Numerical Recipes' betacf), modified Lentz."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def _inc_beta(a: float, b: float, x: float, y: float) -> float:
    """Regularized incomplete beta I_x(a, b), with ``y = 1 - x`` given exactly by the caller."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    if math.isnan(t) or math.isnan(df):
        return math.nan
    if t == 0.0:
        return 0.5
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    tail = 0.5 * _inc_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return tail if t > 0 else 1.0 - tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    if not 0.0 < q < 1.0:
        if q == 0.0:
            return -math.inf
        if q == 1.0:
            return math.inf
        return math.nan
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    p = 1.0 - q  # upper tail to hit; exact for q in [0.5, 1)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > p:
        lo, hi = hi, hi * 2.0
    t = (lo + hi) / 2.0
    for _ in range(200):
        f = t_sf(t, df) - p
        if f > 0:
            lo = t
        else:
            hi = t
        if f == 0.0:
            return t
        step = f / _t_pdf(t, df)  # sf' = -pdf, so Newton adds f / pdf
        new = t + step
        if not lo < new < hi:
            new = (lo + hi) / 2.0
        if abs(new - t) <= 1e-15 * abs(new) or hi - lo <= 1e-15 * hi:
            return new
        t = new
    return t


def welch_t_p(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of Welch's t-test of ``a`` against ``b`` (at least 2 values each)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    vn1 = float(np.var(x, ddof=1)) / n1
    vn2 = float(np.var(y, ddof=1)) / n2
    denom = math.sqrt(vn1 + vn2)
    if denom == 0.0:
        return math.nan
    df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
    t = (float(x.mean()) - float(y.mean())) / denom
    return 2.0 * t_sf(abs(t), df)


def _ndtr(a: float) -> float:
    """Standard normal CDF, the way Cephes' ``ndtr`` (``scipy.special.ndtr``) computes it."""
    x = a * math.sqrt(0.5)
    if abs(x) < math.sqrt(0.5):
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(abs(x))
    return 1.0 - y if x > 0 else y


def _signed_rank_pmf(n: int) -> np.ndarray:
    """P(R+ = r), r = 0 .. n(n+1)/2, no ties: SciPy's ``_get_wilcoxon_distr``, step for step."""
    c = np.ones(1, dtype=np.float64)
    for k in range(1, n + 1):
        prev = c
        c = np.zeros(k * (k + 1) // 2 + 1, dtype=np.float64)
        m = len(prev)
        c[:m] = prev * 0.5
        c[-m:] += prev * 0.5
    return c


def _ranks(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks of ``a`` (1-based) and the size of each group of equal values."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    sizes = np.diff(np.append(starts, len(s)))
    ranks_sorted = np.repeat(starts + 1 + (sizes - 1) / 2.0, sizes)
    ranks = np.empty(len(a), dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks, sizes


def wilcoxon_p(d: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of the signed-rank test of the differences ``d`` (``scipy.stats.wilcoxon``)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    nonzero = d[d != 0]
    count = len(nonzero)
    n_zero = n - count
    if count == 0:
        return math.nan
    ranks, sizes = _ranks(np.abs(nonzero))
    r_plus = float(ranks[nonzero > 0].sum())
    has_ties = bool(np.any(sizes > 1))
    if n <= 50 and not has_ties and n_zero == 0:
        return _exact_p(r_plus, count)
    if n <= 13:
        return _permutation_p(r_plus, ranks, n_zero)
    mn = count * (count + 1.0) * 0.25
    se = count * (count + 1.0) * (2.0 * count + 1.0)
    tie_correct = float(np.sum(sizes.astype(np.float64) ** 3 - sizes))
    se = math.sqrt((se - tie_correct / 2) / 24)
    z = (r_plus - mn) / se
    return 2.0 * _ndtr(-abs(z))


def _exact_p(r_plus: float, n: int) -> float:
    pmf = _signed_rank_pmf(n)
    mn = n * (n + 1) / 4
    k = math.ceil(r_plus)
    cdf = float(pmf[: k + 1].sum()) if k <= mn else 1.0 - float(pmf[k + 1 :].sum())
    k = math.floor(r_plus)
    sf = float(pmf[k:].sum()) if k <= mn else 1.0 - float(pmf[:k].sum())
    return min(max(2.0 * min(sf, cdf), 0.0), 1.0)


def _permutation_p(r_plus: float, ranks: np.ndarray, n_zero: int) -> float:
    """All 2**n sign flips; ranks are whole or half, so twice them count exactly as integers."""
    doubled = np.rint(2.0 * ranks).astype(np.int64)
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for r in doubled:
        counts[r:] = counts[r:] + counts[:-r].copy()
    counts *= 2**n_zero  # a zero's sign flip leaves R+ as it is
    total = float(2 ** (len(ranks) + n_zero))
    obs = int(round(2.0 * r_plus))
    less = float(counts[: obs + 1].sum()) / total
    greater = float(counts[obs:].sum()) / total
    return min(max(min(less, greater) * 2, 0.0), 1.0)


__all__ = ["t_ppf", "t_sf", "welch_t_p", "wilcoxon_p"]
