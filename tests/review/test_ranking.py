"""The Bradley-Terry ranking (review/ranking.py) and the reviewers' agreement (review/agreement.py).

Simulated reviewers with known strengths stand in for people: their votes follow the
Bradley-Terry model itself, so the fit must find the order they were drawn from, and choix's
other fitting functions (a different algorithm on the same likelihood) must give the same scores.
"""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest

from veolab.review.agreement import agreement
from veolab.review.ranking import fit_scores, rank_votes, wins_matrix

STRENGTHS = {"s1": 1.0, "s2": 2.0, "s4": 4.0, "s8": 8.0}


def simulated_votes(n: int, seed: int, tie_rate: float = 0.0) -> list[tuple[str, str, str]]:
    """``n`` votes between random pairs of groups, each won with Bradley-Terry probability
    (strengths 1, 2, 4, 8); a share ``tie_rate`` of them are ties instead."""
    rng = np.random.default_rng(seed)
    names = list(STRENGTHS)
    out = []
    for _ in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        left, right = names[a], names[b]
        if rng.random() < tie_rate:
            out.append((left, right, "tie"))
            continue
        p_left = STRENGTHS[left] / (STRENGTHS[left] + STRENGTHS[right])
        out.append((left, right, "left" if rng.random() < p_left else "right"))
    return out


def test_200_votes_recover_the_true_order():
    ranking = rank_votes(simulated_votes(200, seed=7))
    assert [g.group for g in ranking.groups] == ["s8", "s4", "s2", "s1"]
    assert ranking.votes == ranking.comparisons == 200
    for g in ranking.groups:
        assert g.lo is not None and g.hi is not None
        assert g.lo <= g.score <= g.hi
    # the fitted scores are log-strengths: the gap between the extremes is near log(8)
    best, worst = ranking.group("s8").score, ranking.group("s1").score
    assert abs((best - worst) - math.log(8)) < 1.0
    assert abs(sum(g.score for g in ranking.groups)) < 1e-9  # centred at 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scores_match_choix_reference_fits(seed):
    """With no regularization, our fit (I-LSR on a wins matrix, a tie 0.5 each way) is the
    maximum-likelihood estimate that choix's MM and Newton fits find from the same votes given
    as plain comparisons: a decisive vote twice, a tie once each way."""
    votes = simulated_votes(300, seed=seed, tie_rate=0.2)
    names = list(STRENGTHS)
    idx = {g: k for k, g in enumerate(names)}
    ours = rank_votes(votes, names, n_boot=0, alpha=0.0)
    data: list[tuple[int, int]] = []
    for left, right, choice in votes:
        a, b = idx[left], idx[right]
        if choice == "tie":
            data += [(a, b), (b, a)]
        else:
            winner, loser = (a, b) if choice == "left" else (b, a)
            data += [(winner, loser), (winner, loser)]
    mm = choix.mm_pairwise(len(names), data)
    newton = choix.opt_pairwise(len(names), data, alpha=0.0)
    got = np.array([ours.group(g).score for g in names])
    np.testing.assert_allclose(got, mm - mm.mean(), atol=1e-5)
    np.testing.assert_allclose(got, newton - newton.mean(), atol=1e-4)


def test_the_default_regularization_barely_moves_the_scores():
    votes = simulated_votes(200, seed=11)
    plain = rank_votes(votes, n_boot=0, alpha=0.0)
    default = rank_votes(votes, n_boot=0)
    for g in plain.groups:
        assert default.group(g.group).score == pytest.approx(g.score, abs=0.02)


def test_counts_ties_and_both_bad():
    votes = [
        ("A", "B", "left"),
        ("B", "A", "left"),
        ("A", "B", "tie"),
        ("A", "C", "both_bad"),
        ("C", "A", "right"),
        ("A", "A", "left"),  # two runs of one group (another grouping): not counted
    ]
    r = rank_votes(votes, ["A", "B", "C", "D"], n_boot=0)
    a, b, c, d = (r.group(x) for x in "ABCD")
    assert (a.wins, a.losses, a.ties, a.both_bad, a.n) == (2, 1, 1, 1, 5)
    assert (b.wins, b.losses, b.ties, b.both_bad, b.n) == (1, 1, 1, 0, 3)
    assert (c.wins, c.losses, c.ties, c.both_bad, c.n) == (0, 1, 0, 1, 2)
    assert a.win_rate == pytest.approx(2.5 / 4)
    assert c.both_bad_rate == pytest.approx(0.5)
    assert r.votes == 5 and r.comparisons == 4  # both_bad is counted, not compared
    assert d.score is None and d.n == 0 and d.win_rate is None
    assert r.groups[-1].group == "D"  # no comparison: last


def test_both_bad_alone_gives_no_score():
    r = rank_votes([("A", "B", "both_bad")], n_boot=10)
    assert [g.score for g in r.groups] == [None, None]
    assert r.group("A").both_bad_rate == 1.0


def test_a_perfect_record_keeps_a_finite_score_and_interval():
    r = rank_votes([("A", "B", "left")] * 5 + [("B", "C", "left")] * 5)
    assert [g.group for g in r.groups] == ["A", "B", "C"]
    for g in r.groups:
        assert all(math.isfinite(x) for x in (g.score, g.lo, g.hi))


def test_the_same_votes_give_the_same_intervals():
    votes = simulated_votes(60, seed=3)
    first, second = rank_votes(votes, n_boot=100), rank_votes(votes, n_boot=100)
    assert [(g.lo, g.hi) for g in first.groups] == [(g.lo, g.hi) for g in second.groups]
    assert first.diff_interval("s8", "s1") == second.diff_interval("s8", "s1")


def test_a_wrong_choice_is_refused():
    with pytest.raises(ValueError, match="unknown choice 'up'"):
        rank_votes([("A", "B", "up")])


def test_wins_matrix_and_fit():
    m = wins_matrix([(0, 1, 1.0), (0, 1, 0.5), (1, 2, 0.0)], 3)
    assert m.tolist() == [[0, 1.5, 0], [0.5, 0, 0], [0, 1, 0]]
    scores = fit_scores(m)
    assert scores[0] > scores[1] and scores[2] > scores[1]


# --- agreement ---------------------------------------------------------------------------------


def test_agreement_hand_computed():
    """Two units: x/y judged alike by a and b (sides swapped); p/q: tie, tie, and a win.
    Pairwise agreement 2 of 4; Krippendorff's alpha (nominal) 1 - (2/5) / (12/20) = 1/3."""
    votes = [
        ("a", "x", "y", "left"),
        ("b", "y", "x", "right"),
        ("a", "p", "q", "tie"),
        ("b", "p", "q", "tie"),
        ("c", "p", "q", "left"),
        ("c", "m", "n", "left"),  # judged once: not a shared unit
    ]
    got = agreement(votes)
    assert (got["units"], got["reviewers"], got["pairs"], got["agreeing"]) == (2, 3, 4, 2)
    assert got["percent"] == 0.5
    assert got["alpha"] == pytest.approx(1 / 3)


def test_agreement_perfect_and_undefined():
    same = [("a", "x", "y", "left"), ("b", "x", "y", "left"), ("a", "p", "q", "both_bad")]
    same += [("b", "q", "p", "both_bad")]
    got = agreement(same)
    assert got["percent"] == 1.0 and got["alpha"] == pytest.approx(1.0)
    one_category = agreement([("a", "x", "y", "tie"), ("b", "x", "y", "tie")])
    assert one_category["percent"] == 1.0 and one_category["alpha"] is None
    nobody_shared = agreement([("a", "x", "y", "tie"), ("a", "p", "q", "left")])
    assert nobody_shared == {
        "units": 0,
        "reviewers": 0,
        "pairs": 0,
        "agreeing": 0,
        "percent": None,
        "alpha": None,
    }


def test_agreement_counts_a_reviewers_latest_vote():
    votes = [("a", "x", "y", "left"), ("b", "x", "y", "right"), ("a", "y", "x", "left")]
    assert agreement(votes)["percent"] == 1.0  # a changed their mind to y, as b judged
