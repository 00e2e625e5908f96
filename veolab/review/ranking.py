"""A Bradley-Terry ranking of groups from blind pairwise votes, with bootstrap intervals.

    >>> votes = [("A", "B", "left"), ("B", "A", "right"), ("A", "B", "tie"),
    ...          ("B", "C", "left"), ("C", "D", "both_bad")]
    >>> ranking = rank_votes(votes, n_boot=200)
    >>> [(g.group, g.wins, g.losses, g.ties, g.both_bad) for g in ranking.groups]
    [('A', 2, 0, 1, 0), ('B', 1, 2, 1, 0), ('C', 0, 1, 0, 1), ('D', 0, 0, 0, 1)]
    >>> ranking.group("D").score is None    # no comparison, no score: listed last
    True

The model: group ``i`` beats group ``j`` with probability ``1 / (1 + exp(s_j - s_i))``; the
scores ``s`` are natural-log strengths, centred so that their mean over the fitted groups is 0
(``exp(s_i - s_j)`` is the odds that ``i`` beats ``j``). They are the maximum-likelihood fit of
choix's ``ilsr_pairwise_dense`` (iterative Luce spectral ranking) on a matrix of wins, with a
small regularization (``ALPHA``, a pseudo-rate between every two groups) so that a group that
never lost keeps a finite score.

Choices: ``left`` and ``right`` are a win and a loss; a ``tie`` is half a win for each side (0.5
in both cells of the matrix, which is the likelihood of a tie counted as one win each way,
halved); ``both_bad`` is not a comparison: it is counted per group (``both_bad``, and
``both_bad_rate`` = both_bad / n) and left out of the fit.

Intervals: ``N_BOOT`` bootstrap resamples of the comparison votes (with replacement, a fixed
seed, so the same votes always give the same numbers), each refitted; ``lo`` and ``hi`` are the
2.5th and 97.5th percentiles of each group's score. ``Ranking.diff_interval`` gives the interval
of a difference of two scores from the same resamples (bench/bench_ranking.py measures how often
it covers the true difference).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

LEFT, RIGHT, TIE, BOTH_BAD = "left", "right", "tie", "both_bad"
CHOICES = (LEFT, RIGHT, TIE, BOTH_BAD)
ALPHA = 0.01  # choix's regularization: keeps a perfect record finite, barely moves the rest
N_BOOT = 500
LEVEL = 0.95
MAX_ITER = 1000


@dataclass
class GroupRank:
    """One group's line of the ranking (``score``, ``lo``, ``hi`` None without a comparison)."""

    group: str
    score: float | None = None
    lo: float | None = None
    hi: float | None = None
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def n(self) -> int:
        """Votes that showed this group, both_bad included."""
        return self.wins + self.losses + self.ties + self.both_bad

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        """(wins + ties / 2) / comparisons."""
        c = self.comparisons
        return (self.wins + self.ties / 2) / c if c else None

    @property
    def both_bad_rate(self) -> float | None:
        return self.both_bad / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "score": self.score,
            "lo": self.lo,
            "hi": self.hi,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "both_bad": self.both_bad,
            "n": self.n,
            "win_rate": self.win_rate,
            "both_bad_rate": self.both_bad_rate,
        }


@dataclass
class Ranking:
    """Groups best first (those without a score last, in the order given)."""

    groups: list[GroupRank]
    votes: int  # every vote counted, both_bad included
    comparisons: int  # votes in the fit (left, right, tie)
    n_boot: int = 0
    level: float = LEVEL
    boot: Any = None  # numpy array (resamples x fitted groups) of scores, or None
    fitted: list[str] = field(default_factory=list)  # the columns of ``boot``

    def group(self, name: str) -> GroupRank:
        return next(g for g in self.groups if g.group == name)

    def diff_interval(self, a: str, b: str) -> tuple[float, float] | None:
        """The bootstrap interval of ``score(a) - score(b)``, or None without resamples."""
        import numpy as np

        if self.boot is None or a not in self.fitted or b not in self.fitted:
            return None
        d = self.boot[:, self.fitted.index(a)] - self.boot[:, self.fitted.index(b)]
        tail = (1 - self.level) / 2 * 100
        lo, hi = np.percentile(d, [tail, 100 - tail])
        return float(lo), float(hi)

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": [g.to_dict() for g in self.groups],
            "votes": self.votes,
            "comparisons": self.comparisons,
            "bootstrap": self.n_boot,
            "level": self.level,
        }


def wins_matrix(
    pairs: Iterable[tuple[int, int, float]], n: int
) -> Any:  # numpy.ndarray (n x n): [i, j] = wins of i over j, a tie 0.5 each way
    import numpy as np

    m = np.zeros((n, n))
    for i, j, w in pairs:
        m[i, j] += w
        m[j, i] += 1 - w
    return m


def fit_scores(matrix: Any, *, alpha: float = ALPHA, initial: Any = None) -> Any:
    """Bradley-Terry log-strengths (mean 0) of a wins matrix, by choix's I-LSR."""
    import choix

    return choix.ilsr_pairwise_dense(matrix, alpha=alpha, initial_params=initial, max_iter=MAX_ITER)


def rank_votes(
    votes: Iterable[tuple[str, str, str]],
    groups: Sequence[str] = (),
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = ALPHA,
    level: float = LEVEL,
) -> Ranking:
    """The ranking of ``votes``: (left group, right group, choice) as shown to the reviewer.

    ``groups`` lists groups to show even without votes (their order breaks ties between groups
    without a score); groups that only votes name follow. A vote between two runs of one group
    (possible when votes are regrouped by another key) is not counted.
    """
    import numpy as np

    lines: dict[str, GroupRank] = {g: GroupRank(g) for g in groups}
    comps: list[tuple[str, str, float]] = []  # (a, b, how much a won: 1, 0.5 or 0)
    counted = 0
    for left, right, choice in votes:
        if choice not in CHOICES:
            raise ValueError(f"unknown choice {choice!r}: one of {', '.join(CHOICES)}")
        if left == right:
            continue
        a = lines.setdefault(left, GroupRank(left))
        b = lines.setdefault(right, GroupRank(right))
        counted += 1
        if choice == BOTH_BAD:
            a.both_bad += 1
            b.both_bad += 1
            continue
        won = {LEFT: 1.0, RIGHT: 0.0, TIE: 0.5}[choice]
        if choice == TIE:
            a.ties += 1
            b.ties += 1
        else:
            winner, loser = (a, b) if won else (b, a)
            winner.wins += 1
            loser.losses += 1
        comps.append((left, right, won))

    fitted = [g for g, line in lines.items() if line.comparisons]
    ranking = Ranking([], counted, len(comps), level=level, fitted=fitted)
    if len(fitted) >= 2:
        index = {g: k for k, g in enumerate(fitted)}
        ii = np.array([index[a] for a, _, _ in comps])
        jj = np.array([index[b] for _, b, _ in comps])
        ww = np.array([w for _, _, w in comps])
        n = len(fitted)
        scores = fit_scores(wins_matrix(zip(ii, jj, ww, strict=True), n), alpha=alpha)
        for g, s in zip(fitted, scores, strict=True):
            lines[g].score = float(s)
        if n_boot > 0:
            boot = _bootstrap(ii, jj, ww, n, n_boot, seed, alpha, scores)
            tail = (1 - level) / 2 * 100
            los, his = np.percentile(boot, [tail, 100 - tail], axis=0)
            for g, lo, hi in zip(fitted, los, his, strict=True):
                lines[g].lo, lines[g].hi = float(lo), float(hi)
            ranking.boot, ranking.n_boot = boot, len(boot)
    order = list(lines)
    ranking.groups = sorted(
        lines.values(),
        key=lambda g: (g.score is None, -(g.score or 0.0), order.index(g.group)),
    )
    return ranking


def _bootstrap(ii, jj, ww, n: int, n_boot: int, seed: int, alpha: float, start) -> Any:
    """``n_boot`` refits on votes resampled with replacement (a fit that does not converge,
    which the regularization makes rare, is left out)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    m = len(ww)
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, m, m)
        mat = np.zeros((n, n))
        np.add.at(mat, (ii[pick], jj[pick]), ww[pick])
        np.add.at(mat, (jj[pick], ii[pick]), 1 - ww[pick])
        try:
            out.append(fit_scores(mat, alpha=alpha, initial=start))
        except RuntimeError:
            continue
    return np.array(out).reshape(len(out), n)


__all__ = [
    "ALPHA",
    "BOTH_BAD",
    "CHOICES",
    "LEFT",
    "N_BOOT",
    "RIGHT",
    "TIE",
    "GroupRank",
    "Ranking",
    "fit_scores",
    "rank_votes",
    "wins_matrix",
]
