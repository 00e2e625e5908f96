"""How well the review's ranking (veolab/review/ranking.py) does on votes whose truth is known.

    python bench/bench_ranking.py                     # 200 trials of 50 and of 200 votes
    python bench/bench_ranking.py --trials 50 --votes 200

Each trial draws votes from simulated reviewers who follow the Bradley-Terry model: four groups
with strengths 1, 2, 4 and 8, a random pair of groups per vote, the stronger side preferred
with probability s_i / (s_i + s_j). ``rank_votes`` then fits the scores and their bootstrap
intervals exactly as ``veolab review`` and ``veolab compare`` do (choix's I-LSR, alpha 0.01,
500 resamples, 95%). Printed per number of votes:

- coverage: how often the 95% bootstrap interval of a difference of two scores
  (``Ranking.diff_interval``) holds the true log-strength difference (all 6 pairs of groups,
  every trial), and how often each group's own interval holds its true centred log-strength;
- order: how often the fitted order is exactly 8 > 4 > 2 > 1;
- the time of one ranking (fit and bootstrap), median over the trials.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time

import numpy as np

from veolab.review.ranking import rank_votes

STRENGTHS = {"s1": 1.0, "s2": 2.0, "s4": 4.0, "s8": 8.0}


def votes(n: int, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    names = list(STRENGTHS)
    out = []
    for _ in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        left, right = names[a], names[b]
        p = STRENGTHS[left] / (STRENGTHS[left] + STRENGTHS[right])
        out.append((left, right, "left" if rng.random() < p else "right"))
    return out


def trial_stats(n_votes: int, trials: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    logs = {g: math.log(s) for g, s in STRENGTHS.items()}
    centre = statistics.fmean(logs.values())
    diff_hits = diff_total = group_hits = group_total = ordered = 0
    widths: list[float] = []
    times: list[float] = []
    for t in range(trials):
        sample = votes(n_votes, rng)
        t0 = time.perf_counter()
        ranking = rank_votes(sample, list(STRENGTHS), seed=t)
        times.append(time.perf_counter() - t0)
        for a, b in itertools.combinations(STRENGTHS, 2):
            interval = ranking.diff_interval(a, b)
            if interval is None:
                continue
            lo, hi = interval
            diff_total += 1
            diff_hits += lo <= logs[a] - logs[b] <= hi
            widths.append(hi - lo)
        for g in ranking.groups:
            if g.lo is None or g.hi is None:
                continue
            group_total += 1
            group_hits += g.lo <= logs[g.group] - centre <= g.hi
        ordered += [g.group for g in ranking.groups] == ["s8", "s4", "s2", "s1"]
    return {
        "votes": n_votes,
        "trials": trials,
        "diff_coverage": diff_hits / diff_total,
        "diff_intervals": diff_total,
        "group_coverage": group_hits / group_total,
        "order": ordered / trials,
        "median_width": statistics.median(widths),
        "median_s": statistics.median(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--votes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    print(
        "votes  trials  difference coverage (intervals)  group coverage  exact order  "
        "median width  median time"
    )
    for n in args.votes:
        r = trial_stats(n, args.trials, args.seed)
        print(
            f"{r['votes']:>5}  {r['trials']:>6}  {r['diff_coverage']:>19.1%} "
            f"({r['diff_intervals']:>5})  {r['group_coverage']:>14.1%}  {r['order']:>11.1%}  "
            f"{r['median_width']:>12.2f}  {r['median_s']:>9.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
