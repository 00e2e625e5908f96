"""compare/_dist.py gives SciPy's numbers without importing SciPy: the t quantile, Welch's p and
the signed-rank p, checked against the installed SciPy on seeded random inputs."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

from veolab.compare import stats as vstats
from veolab.compare._dist import t_ppf, t_sf, welch_t_p, wilcoxon_p

# thousands of comparisons with scipy (its permutation test alone takes seconds a call): about a
# minute, so they run in CI, not in the quick loop
pytestmark = pytest.mark.slow

LEVELS = [0.975, 0.95, 0.995, 0.999, 0.9, 0.75, 0.6, 0.5, 0.4, 0.05, 0.025]


def close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= 1e-14 or abs(ours - theirs) <= 1e-9 * abs(theirs)


def scipy_wilcoxon(d: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(d).pvalue)


@pytest.mark.parametrize("q", LEVELS)
def test_t_ppf_matches_scipy_for_df_1_to_200(q):
    for df in range(1, 201):
        ours, theirs = t_ppf(q, df), float(stats.t.ppf(q, df))
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-300), (q, df)


def test_t_ppf_closed_forms_and_edges():
    assert t_ppf(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-13)
    q = 0.975  # df 2: t = (2q - 1) / sqrt(2 q (1 - q))
    assert t_ppf(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-13)
    assert t_ppf(0.5, 7) == 0.0
    assert (t_ppf(0.0, 3), t_ppf(1.0, 3)) == (-math.inf, math.inf)
    assert t_ppf(0.025, 4) == -t_ppf(0.975, 4)


def test_t_sf_keeps_digits_far_in_the_tail():
    for df in (1.0, 2.5, 7.3, 30.0, 117.9):
        for t in (0.0, 0.3, 2.0, 10.0, 50.0, 1e3, 1e6):
            ours, theirs = t_sf(t, df), float(stats.t.sf(t, df))
            assert close(ours, theirs) or ours == pytest.approx(theirs, rel=1e-9), (t, df)
            assert close(t_sf(-t, df), float(stats.t.sf(-t, df))), (t, df)
    assert t_sf(1e6, 30.0) < 1e-150  # not 1 - cdf, which would be 0


def test_welch_p_matches_scipy_from_1_down_past_1e_12():
    rng = np.random.default_rng(20261129)
    ps = []
    for i in range(1500):
        n1, n2 = (int(v) for v in rng.integers(2, 61, 2))
        shift = [0.0, 1e-3, 0.1, 1.0, 3.0, 10.0, 50.0][i % 7]
        x = rng.normal(0.0, rng.uniform(0.05, 3.0), n1)
        y = rng.normal(shift, rng.uniform(0.05, 3.0), n2)
        theirs = float(stats.ttest_ind(y, x, equal_var=False).pvalue)
        ours = welch_t_p(y, x)
        assert close(ours, theirs), (n1, n2, shift, ours, theirs)
        ps.append(theirs)
    # the range asked for was covered: near 1, and below 1e-12 with room to spare
    assert max(ps) > 0.99
    assert sum(1e-30 < p < 1e-12 for p in ps) > 20
    assert min(ps) < 1e-100


def test_welch_p_of_near_equal_groups_is_near_one():
    x = [1.0, 2.0, 3.0, 4.0]
    y = [1.0 + 1e-9, 2.0, 3.0, 4.0]
    theirs = float(stats.ttest_ind(y, x, equal_var=False).pvalue)
    assert welch_t_p(y, x) == pytest.approx(theirs, rel=1e-12)
    assert welch_t_p(y, x) > 0.999999


def _differences(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind == "continuous":
        return rng.normal(rng.uniform(-1.5, 1.5), 1.0, n)
    if kind == "ties":
        return np.round(rng.normal(rng.uniform(-1.0, 1.0), 1.0, n), 1) + 0.05
    if kind == "zeros":
        return rng.integers(-3, 4, n).astype(float)  # ties and zeros
    if kind == "all positive":
        return np.abs(rng.normal(0.0, 1.0, n)) + 0.01
    if kind == "all negative with ties":
        return -rng.integers(1, 4, n).astype(float)
    raise AssertionError(kind)


KINDS = ["continuous", "ties", "zeros", "all positive", "all negative with ties"]


@pytest.mark.parametrize("kind", KINDS)
def test_wilcoxon_p_matches_scipy_for_n_2_to_80(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    checked = 0
    for n in range(2, 81):
        # SciPy's own sign-flip enumeration (ties or zeros, n <= 13) takes up to 2 s a call
        for _ in range(2 if n <= 13 else 4):
            d = _differences(rng, kind, n)
            if np.all(d == 0):
                continue
            ours, theirs = wilcoxon_p(d), scipy_wilcoxon(d)
            assert close(ours, theirs), (kind, n, d.tolist(), ours, theirs)
            checked += 1
    assert checked > 250


@pytest.mark.parametrize(
    ("kind", "sizes"),
    [
        # no ties, no zeros: exact up to 50 differences, the normal approximation above
        ("continuous", [48, 49, 50, 51, 52]),
        ("all positive", [49, 50, 51]),
        # ties or zeros: all 2**n sign flips up to 13, the normal approximation above
        ("ties", [12, 13, 14, 15]),
        ("zeros", [12, 13, 14, 15]),
    ],
)
def test_wilcoxon_p_where_scipy_switches_methods(kind, sizes):
    rng = np.random.default_rng(7)
    for n in sizes:
        for _ in range(3 if n <= 13 else 25):
            d = _differences(rng, kind, n)
            if np.all(d == 0):
                continue
            ours, theirs = wilcoxon_p(d), scipy_wilcoxon(d)
            assert close(ours, theirs), (kind, n, d.tolist(), ours, theirs)


def test_wilcoxon_p_known_values():
    assert wilcoxon_p(np.arange(1.0, 7.0)) == 2 / 2**6  # all six positive, exact
    assert wilcoxon_p([1.0, 1.0, 2.0, 0.0, 3.0]) == 0.125  # ties and a zero: sign flips
    assert wilcoxon_p(np.arange(1.0, 51.0)) == 2 / 2**50
    assert math.isnan(wilcoxon_p([0.0, 0.0]))


def test_compare_stats_give_scipy_numbers():
    rng = np.random.default_rng(3)
    base = {s: float(v) for s, v in enumerate(rng.normal(0.5, 0.1, 8))}
    other = {s: float(v) for s, v in enumerate(rng.normal(0.8, 0.1, 8))}
    r = vstats.compare_samples(base, other)
    d = np.array([other[s] - base[s] for s in base])
    b, o = list(base.values()), list(other.values())
    assert r.paired.p_value == pytest.approx(scipy_wilcoxon(d), rel=1e-12)
    assert r.unpaired.welch_p == pytest.approx(
        float(stats.ttest_ind(o, b, equal_var=False).pvalue), rel=1e-12
    )
    s = vstats.mean_ci(b)
    half = float(stats.t.ppf(0.975, 7)) * float(np.std(b, ddof=1)) / math.sqrt(8)
    assert s.hi == pytest.approx(float(np.mean(b)) + half, rel=1e-12)
    assert (r.method, r.verdict) == ("paired", vstats.HIGHER)


def test_importing_compare_stats_does_not_import_scipy():
    code = "import veolab.compare.stats, sys; print('scipy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == "False\n"
