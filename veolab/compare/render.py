"""Terminal output of a comparison: a summary table (one column per group) and the A/B table."""

from __future__ import annotations

from veolab.compare.stats import HIGHER, LOWER, TOO_FEW
from veolab.compare.table import CompareResult


def fmt(x: float | None) -> str:
    """A readable number: 3 significant figures around 1, one decimal from 100 on."""
    if x is None:
        return "–"
    a = abs(x)
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a == 0:
        return "0"
    if a >= 0.001:
        return f"{x:.3f}"
    return f"{x:.2g}"


def mean_ci_text(mean: float | None, lo: float | None, hi: float | None, n: int) -> str:
    if mean is None:
        return "–"
    if lo is None or hi is None:
        return f"{fmt(mean)} (n={n})"
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def diff_text(d: float | None, lo: float | None, hi: float | None) -> str:
    if d is None:
        return "–"
    sign = "+" if d > 0 else ""
    if lo is None or hi is None:
        return f"{sign}{fmt(d)}"
    return f"{sign}{fmt(d)} [{fmt(lo)}, {fmt(hi)}]"


def print_result(result: CompareResult, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    title = f"{result.experiment}: {len(result.groups)} groups by {result.by}"
    t = Table(title=title, title_justify="left")
    t.add_column("", style="bold")
    for g in result.groups:
        head = g.label + (" (baseline)" if g.label == result.baseline else "")
        t.add_column(head, justify="right", overflow="fold")
    t.add_row("runs", *[str(g.runs) for g in result.groups])
    t.add_row("failures", *[str(g.failures) for g in result.groups])
    t.add_row(
        "checks passed",
        *[f"{g.checks_passed}/{g.checks_total}" if g.checks_total else "–" for g in result.groups],
    )
    t.add_row("seeds", *[",".join(map(str, g.seeds)) or "–" for g in result.groups])
    for m in result.metrics:
        t.add_row(
            m,
            *[
                mean_ci_text(
                    g.summaries[m].mean, g.summaries[m].lo, g.summaries[m].hi, g.summaries[m].n
                )
                for g in result.groups
            ],
        )
    console.print(t)
    console.print("mean [95% confidence interval]")
    if result.ab:
        others = list(dict.fromkeys(r.group for r in result.ab))
        one = len(others) == 1
        title = (
            f"A/B: {others[0]} vs {result.baseline}" if one else f"A/B against {result.baseline}"
        )
        a = Table(title=title, title_justify="left")
        cols = ([] if one else ["group"]) + [
            "metric",
            "difference [95% CI]",
            "Welch p",
            "pairs",
            "Wilcoxon p",
            "verdict",
        ]
        for col in cols:
            numeric = col.endswith((" p", "pairs", "verdict")) or col.startswith("difference")
            a.add_column(
                col,
                justify="right" if col.endswith((" p", "pairs")) else "left",
                overflow="fold",
                no_wrap=numeric,  # an interval reads badly over two lines
            )
        for r in result.ab:
            style = {HIGHER: "green", LOWER: "red", TOO_FEW: "yellow"}.get(r.verdict, "")
            cells = ([] if one else [r.group]) + [
                r.metric,
                diff_text(r.unpaired.diff, r.unpaired.lo, r.unpaired.hi),
                fmt(r.unpaired.welch_p),
                str(r.paired.n_pairs),
                fmt(r.paired.p_value),
                f"[{style}]{r.verdict}[/{style}]" if style else r.verdict,
            ]
            a.add_row(*cells)
        console.print(a)
    notes = list(result.notes)
    for r in result.ab:
        for n in r.notes:
            if n not in notes:
                notes.append(n)
    for n in notes:
        console.print(f"note: {n}")
