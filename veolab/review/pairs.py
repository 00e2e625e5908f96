"""Which generations a review shows, and which pair comes next.

    gens = eligible(table, by="var.lighting")          # FINISHED, checks passed
    plan = PairPlan(gens)
    a, b = plan.choose(votes_per_group_pair, seen_by_reviewer, rng)

**Eligible**: the FINISHED generations of the run table (``compare``'s table: the latest run of
each request) that passed their checks; ``include_failed`` adds those that failed a check (a
FAILED run has no video and is never shown). Groups are ``compare``'s groups under ``by``.

**Candidate pairs**: a generation of one group with one of another group, with the same seed
where one exists: ``(a, b)`` is a candidate when their seeds are equal, or when ``a``'s seed has
no match in ``b``'s group (or ``b``'s none in ``a``'s), so every generation is shown.

**The next pair** (the rule, in order):

1. group pairs that still have a candidate this reviewer has not been served;
2. of those, the group pairs with the fewest votes so far (all reviewers, ``both_bad``
   included), so every comparison fills up evenly; ties broken at random;
3. a random candidate of that group pair the reviewer has not been served.

When the reviewer has been served every candidate, repeats begin: the group pairs with the
fewest votes, then the candidate this reviewer was served least often. The sides are random.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from veolab.compare.runs import RunTable
from veolab.compare.table import group_runs
from veolab.tracking import schema as S

RunPair = tuple[str, str]  # two run ids, sorted
GroupPair = tuple[str, str]  # two group labels in the groups' order


@dataclass(frozen=True)
class Generation:
    """One generation a review can show."""

    run_id: str
    group: str
    seed: int | None
    provider: str
    model: str
    request_hash: str


def _seed(v: Any) -> int | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return int(v)


def group_of_runs(table: RunTable, by: str) -> tuple[list[str], dict[str, str]]:
    """(group labels in order, run id -> group) for every run of ``table``."""
    groups: list[str] = []
    runs: dict[str, str] = {}
    for _key, label, sub in group_runs(table, by):
        groups.append(label)
        for rid in sub["run_id"]:
            runs[rid] = label
    return groups, runs


def eligible(
    table: RunTable, by: str = "variant", include_failed: bool = False
) -> list[Generation]:
    """The generations of ``table`` a review shows, grouped by ``by`` (see the module doc)."""
    out: list[Generation] = []
    for _key, label, sub in group_runs(table, by):
        for row in sub.to_dict("records"):
            if row["failed"] or row.get("status") != "FINISHED":
                continue
            if row.get("checks_passed") is False and not include_failed:
                continue
            out.append(
                Generation(
                    run_id=row["run_id"],
                    group=label,
                    seed=_seed(row.get("seed")),
                    provider=str(row.get(f"tags.{S.PROVIDER}") or ""),
                    model=str(row.get(f"tags.{S.MODEL}") or ""),
                    request_hash=str(row.get("request_hash") or ""),
                )
            )
    return out


def run_pair(a: str, b: str) -> RunPair:
    return (a, b) if a <= b else (b, a)


class PairPlan:
    """The candidate pairs of a set of generations, and the choice of the next one."""

    def __init__(self, generations: list[Generation]) -> None:
        self.generations = {g.run_id: g for g in generations}
        self.groups = list(dict.fromkeys(g.group for g in generations))
        members: dict[str, list[Generation]] = {g: [] for g in self.groups}
        for gen in generations:
            members[gen.group].append(gen)
        self.candidates: dict[GroupPair, list[RunPair]] = {}
        for g1, g2 in combinations(self.groups, 2):
            seeds1 = {x.seed for x in members[g1] if x.seed is not None}
            seeds2 = {x.seed for x in members[g2] if x.seed is not None}
            pairs = [
                run_pair(a.run_id, b.run_id)
                for a in members[g1]
                for b in members[g2]
                if (a.seed is not None and a.seed == b.seed)
                or a.seed not in seeds2
                or b.seed not in seeds1
            ]
            if pairs:
                self.candidates[(g1, g2)] = pairs
        self.all_pairs = {p for pairs in self.candidates.values() for p in pairs}

    def group_pair(self, a: str, b: str) -> GroupPair | None:
        """The group pair of two runs (in the groups' order), None if either is not shown."""
        ga, gb = self.generations.get(a), self.generations.get(b)
        if ga is None or gb is None or ga.group == gb.group:
            return None
        i, j = self.groups.index(ga.group), self.groups.index(gb.group)
        return (ga.group, gb.group) if i < j else (gb.group, ga.group)

    def choose(
        self, votes: Counter[GroupPair], seen: Counter[RunPair], rng: random.Random
    ) -> tuple[tuple[str, str], bool]:
        """((left run id, right run id), repeat): the next pair for a reviewer who has been
        served the pairs in ``seen`` (run pair -> times), given the votes so far per group
        pair; ``repeat`` is True when the reviewer has been served every candidate."""
        if not self.candidates:
            raise ValueError("no candidate pairs: a review needs two groups with generations")
        fresh = {gp: [p for p in pairs if p not in seen] for gp, pairs in self.candidates.items()}
        fresh = {gp: pairs for gp, pairs in fresh.items() if pairs}
        repeat = not fresh
        pool = fresh or self.candidates
        fewest = min(votes[gp] for gp in pool)
        gp = rng.choice([gp for gp in pool if votes[gp] == fewest])
        pairs = pool[gp]
        if repeat:
            least = min(seen[p] for p in pairs)
            pairs = [p for p in pairs if seen[p] == least]
        a, b = rng.choice(pairs)
        return ((a, b) if rng.random() < 0.5 else (b, a)), repeat


__all__ = ["Generation", "PairPlan", "eligible", "group_of_runs", "run_pair"]
