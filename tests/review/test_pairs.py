"""Which pairs a review offers and in which order (review/pairs.py): same seeds, the group pair
with the fewest votes, nothing twice to one reviewer until everything was shown, random sides."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from veolab.review.pairs import Generation, PairPlan, run_pair


def gen(run_id: str, group: str, seed: int | None) -> Generation:
    return Generation(run_id, group, seed, "sim", "veo-3.1", f"h-{run_id}")


def three_groups() -> list[Generation]:
    return [gen(f"{g}{s}", g, s) for g in "ABC" for s in (1, 2, 3)]


def test_candidates_share_a_seed():
    plan = PairPlan(three_groups())
    assert plan.groups == ["A", "B", "C"]
    assert sorted(plan.candidates) == [("A", "B"), ("A", "C"), ("B", "C")]
    assert sorted(plan.candidates[("A", "B")]) == [("A1", "B1"), ("A2", "B2"), ("A3", "B3")]
    assert len(plan.all_pairs) == 9


def test_a_seed_without_a_match_pairs_with_every_run_of_the_other_group():
    gens = [gen("A1", "A", 1), gen("A2", "A", 2), gen("B1", "B", 1), gen("Bx", "B", None)]
    plan = PairPlan(gens)
    assert sorted(plan.candidates[("A", "B")]) == [("A1", "B1"), ("A1", "Bx"), ("A2", "B1")] + [
        ("A2", "Bx")
    ]


def test_the_group_pair_with_fewest_votes_comes_next():
    plan = PairPlan(three_groups())
    votes = Counter({("A", "B"): 3, ("A", "C"): 1, ("B", "C"): 2})
    for seed in range(20):
        (left, right), repeat = plan.choose(votes, Counter(), random.Random(seed))
        assert {left[0], right[0]} == {"A", "C"} and not repeat


def test_a_reviewer_sees_every_pair_once_before_any_twice():
    plan = PairPlan(three_groups())
    rng = random.Random(5)
    seen: Counter = Counter()
    votes: Counter = Counter()
    sides: Counter = Counter()
    for i in range(9):
        (left, right), repeat = plan.choose(votes, seen, rng)
        assert not repeat, f"pair {i + 1} of 9 was a repeat"
        pair = run_pair(left, right)
        assert seen[pair] == 0
        seen[pair] += 1
        votes[plan.group_pair(left, right)] += 1
        sides[left < right] += 1
    assert set(seen) == plan.all_pairs
    assert sorted(votes.values()) == [3, 3, 3]  # the fewest-votes rule fills them evenly
    (left, right), repeat = plan.choose(votes, seen, rng)
    assert repeat and run_pair(left, right) in plan.all_pairs
    assert sides[True] and sides[False]  # both orders occur: the sides are random


def test_repeats_take_the_least_seen_pair():
    plan = PairPlan(three_groups())
    seen = Counter({p: 2 for p in plan.all_pairs})
    seen[("A2", "B2")] = 1
    votes = Counter({("A", "B"): 0, ("A", "C"): 5, ("B", "C"): 5})
    (left, right), repeat = plan.choose(votes, seen, random.Random(0))
    assert repeat and run_pair(left, right) == ("A2", "B2")


def test_one_group_has_no_pairs():
    plan = PairPlan([gen("A1", "A", 1), gen("A2", "A", 2)])
    assert plan.candidates == {} and plan.group_pair("A1", "A2") is None
    with pytest.raises(ValueError, match="two groups"):
        plan.choose(Counter(), Counter(), random.Random(0))
