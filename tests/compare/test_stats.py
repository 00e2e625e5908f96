"""The statistics of `veolab compare` on made-up numbers with known answers."""

from __future__ import annotations

import math

import pytest

from veolab.compare.stats import (
    HIGHER,
    LOWER,
    MIN_PAIRS,
    SAME,
    TOO_FEW,
    bootstrap_diff,
    compare_samples,
    mean_ci,
    paired_diff,
    welch_p,
)

T_975_2 = 4.302652729749462  # Student t, 97.5% quantile, 2 degrees of freedom
T_975_1 = 12.706204736174694


def test_mean_ci_of_three_values():
    s = mean_ci([1.0, 2.0, 3.0])
    half = T_975_2 * 1.0 / math.sqrt(3)
    assert (s.n, s.mean, s.sd) == (3, 2.0, 1.0)
    assert s.lo == pytest.approx(2.0 - half, abs=1e-12)
    assert s.hi == pytest.approx(2.0 + half, abs=1e-12)
    assert (round(s.lo, 3), round(s.hi, 3)) == (-0.484, 4.484)


def test_mean_ci_ignores_missing_and_nan():
    s = mean_ci([1.0, None, float("nan"), 3.0])
    assert (s.n, s.mean) == (2, 2.0)
    assert s.hi - s.mean == pytest.approx(T_975_1 * math.sqrt(2) / math.sqrt(2), abs=1e-9)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], (0, None, None, None)), ([5.0], (1, 5.0, None, None)), ([2.0, 2.0], (2, 2.0, 2.0, 2.0))],
)
def test_mean_ci_edges(values, expected):
    s = mean_ci(values)
    assert (s.n, s.mean, s.lo, s.hi) == expected


def test_bootstrap_finds_a_clear_difference_and_is_reproducible():
    a = [10.0, 11.0, 9.0, 10.5, 9.5]
    b = [20.0, 21.0, 19.0, 20.5, 19.5]
    d = bootstrap_diff(a, b)
    assert d.diff == 10.0
    # resampled means lie in [9, 11] and [19, 21]: their difference in [8, 12]
    assert 8.0 <= d.lo < 10.0 < d.hi <= 12.0
    assert d.excludes_zero
    assert d.welch_p < 1e-6
    assert bootstrap_diff(a, b) == d  # seeded


def test_no_difference_is_not_called_one():
    a = {s: v for s, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])}
    b = {s: v for s, v in enumerate([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])}
    ab = compare_samples(a, b, metric="motion")
    assert ab.unpaired.diff == 0.0
    assert ab.unpaired.lo < 0 < ab.unpaired.hi
    assert ab.paired.n_pairs == 6
    assert ab.paired.p_value == 1.0  # differences +5 +3 +1 -1 -3 -5: symmetric
    assert (ab.verdict, ab.method) == (SAME, "paired")


def test_paired_beats_unpaired_when_seeds_explain_most_of_the_spread():
    # each seed shifts both groups alike; the variant adds about +1 on every seed
    seed_effect = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    noise = [0.0, 0.2, -0.1, 0.1, 0.0, -0.05, 0.05, 0.15]
    a = {i: s for i, s in enumerate(seed_effect)}
    b = {i: s + 1.0 + n for i, (s, n) in enumerate(zip(seed_effect, noise, strict=True))}
    ab = compare_samples(a, b, metric="sharpness")
    # unpaired: a difference of ~1 against a spread of ~24 is nothing
    assert ab.unpaired.lo < 0 < ab.unpaired.hi
    assert ab.unpaired.welch_p > 0.5
    # paired: every one of the 8 seeds went up, exact two-sided p = 2 / 2**8
    assert ab.paired.n_pairs == 8
    assert ab.paired.p_value == pytest.approx(2 / 2**8)
    assert ab.paired.diff == pytest.approx(1.0 + sum(noise) / 8)
    assert ab.paired.lo > 0
    assert (ab.verdict, ab.method) == (HIGHER, "paired")


def test_lower_is_found_unpaired_when_seeds_differ():
    a = {1: 5.0, 2: 5.2, 3: 4.9, 4: 5.1}
    b = {11: 2.0, 12: 2.1, 13: 1.9, 14: 2.05}
    ab = compare_samples(a, b)
    assert ab.paired.n_pairs == 0
    assert ab.unpaired.hi < 0
    assert (ab.verdict, ab.method) == (LOWER, "bootstrap")
    assert ab.notes == ["small sample (n=4 vs n=4): treat as a hint"]


def test_two_runs_a_group_is_too_few_to_conclude_anything():
    ab = compare_samples({1: 1.0, 2: 1.1}, {1: 9.0, 2: 9.2})
    assert ab.verdict == TOO_FEW
    assert ab.method == ""
    assert ab.notes == [
        "n=2 vs n=2: at least 3 runs a group are needed to conclude anything; add seeds"
    ]


def test_five_pairs_cannot_reach_significance_so_the_bootstrap_decides():
    a = {i: float(i) for i in range(1, 6)}
    b = {i: float(i) + 10 for i in range(1, 6)}
    ab = compare_samples(a, b)
    assert ab.paired.p_value == 0.0625  # the smallest two-sided p with 5 pairs
    assert ab.method == "bootstrap"
    assert ab.verdict == HIGHER
    assert f"5 paired seeds: the signed-rank test needs {MIN_PAIRS} to reach p<0.05" in ab.notes


def test_pairs_with_no_difference_and_repeated_seeds():
    assert paired_diff({1: 2.0, 2: 3.0}, {1: 2.0, 2: 3.0}).p_value == 1.0
    assert paired_diff({1: 2.0}, {2: 3.0}).n_pairs == 0
    # a seed run twice in one group counts once in the pairing, twice in the unpaired test
    ab = compare_samples([(1, 1.0), (2, 2.0), (3, 3.0)], [(1, 2.0), (1, 4.0), (2, 5.0), (3, 6.0)])
    assert (ab.n_baseline, ab.n_group, ab.paired.n_pairs) == (3, 4, 3)
    assert ab.paired.diff == pytest.approx(((3.0 - 1.0) + (5.0 - 2.0) + (6.0 - 3.0)) / 3)


def test_welch_edges():
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert welch_p([1.0], [2.0, 3.0]) is None


def test_to_dict_is_plain_json():
    import json

    ab = compare_samples(
        {1: 1.0, 2: 2.0, 3: 3.0},
        {1: 1.5, 2: 2.5, 3: 3.5},
        metric="m",
        baseline_label="A",
        group_label="B",
    )
    d = json.loads(json.dumps(ab.to_dict()))
    assert d["metric"] == "m" and d["baseline"] == "A" and d["group"] == "B"
    assert d["diff"] == pytest.approx(0.5) and d["n_pairs"] == 3
    assert set(d) == {
        "metric",
        "baseline",
        "group",
        "n_baseline",
        "n_group",
        "diff",
        "diff_lo",
        "diff_hi",
        "welch_p",
        "n_pairs",
        "paired_diff",
        "paired_lo",
        "paired_hi",
        "wilcoxon_p",
        "verdict",
        "method",
        "notes",
    }


def test_bounded_scales_clip_their_interval() -> None:
    from veolab.compare.stats import BOUNDS, mean_ci

    wide = mean_ci([4.0, 5.0])  # a t-interval of two ratings runs far past the 1..5 scale
    assert wide.lo < 1.0 and wide.hi > 5.0
    clipped = mean_ci([4.0, 5.0], bounds=BOUNDS["human_score"])
    assert (clipped.mean, clipped.lo, clipped.hi) == (4.5, 1.0, 5.0)
