"""The ranking in the terminal (``veolab review --ranking``, and ``veolab compare`` when the
experiment has votes).

    print_ranking(ranking_of("quickstart"))
    text = ranking_text(payload, width=80)

One table, best group first (groups without a comparison last): the Bradley-Terry score with its
95% bootstrap interval, wins, losses, ties, both-bad votes and votes in all; then a line on the
reviewers and their agreement.
Group labels too long for the width become keys (``A``, ``B``) with a legend, as in
``veolab compare``.
"""

from __future__ import annotations

from typing import Any

from veolab.compare.layout import natural_width, output_width, print_renderables, render_text
from veolab.compare.render import diff_text

HEADERS = (
    ("group", "left"),
    ("score [95% CI]", "right"),
    ("wins", "right"),
    ("losses", "right"),
    ("ties", "right"),
    ("both\nbad", "right"),
    ("votes", "right"),
)


def _label(group: str, by: str) -> str:
    """``var.lighting=dark`` as ``dark`` when grouped by var.lighting (the title says by what)."""
    return group.removeprefix(f"{by}=") if by != "variant" else group


def _keys(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)] if n <= 26 else [f"G{i + 1}" for i in range(n)]


def _table(payload: dict[str, Any], names: list[str]) -> Any:
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)
    for head, justify in HEADERS:
        t.add_column(head, justify=justify, no_wrap=True, overflow="fold")  # type: ignore[arg-type]
    for g, name in zip(payload["groups"], names, strict=True):
        score = g["score"]
        t.add_row(
            name,
            diff_text(score, g["lo"], g["hi"]) if score is not None else "–",
            str(g["wins"]),
            str(g["losses"]),
            str(g["ties"]),
            str(g["both_bad"]),
            str(g["n"]),
        )
    return t


def _tables(payload: dict[str, Any], width: int) -> list[Any]:
    """The table with the groups' labels in it when it fits ``width``, else with keys (``A``,
    ``B``, ...) and a legend above it, as ``veolab compare`` does."""
    labels = [_label(g["group"], payload["by"]) for g in payload["groups"]]
    full = _table(payload, labels)
    if natural_width(full) <= width:
        return [full]
    keys = _keys(len(labels))
    legend = [f"{k} = {label}" for k, label in zip(keys, labels, strict=True)]
    return [*legend, _table(payload, keys)]


def _agreement_line(payload: dict[str, Any]) -> str:
    a = payload["agreement"]
    if not a["units"]:
        return "agreement: no pair judged by more than one reviewer yet"
    alpha = "–" if a["alpha"] is None else f"{a['alpha']:.2f}"
    return (
        f"agreement: {a['percent']:.0%} on {a['units']} pairs judged by 2+ reviewers, "
        f"Krippendorff's alpha {alpha}"
    )


def ranking_renderables(payload: dict[str, Any], width: int) -> list[Any]:
    votes = payload["votes"]
    title = f"ranking by {payload['by']}: {votes} votes"
    reviewers = payload["reviewers"]
    if reviewers:
        who = ", ".join(f"{r['reviewer']} {r['votes']}" for r in reviewers)
        title += f" from {len(reviewers)} reviewer{'s' if len(reviewers) != 1 else ''} ({who})"
    out: list[Any] = [title]
    if not votes:
        out.append(f"no votes yet: veolab review {payload['experiment']} to cast some")
        return out
    out += [
        *_tables(payload, width),
        "score: Bradley-Terry log-strength [95% bootstrap CI]; a lead of 1 = 2.7:1 odds",
        _agreement_line(payload),
    ]
    return out


def ranking_text(payload: dict[str, Any], width: int = 80) -> str:
    return render_text(ranking_renderables(payload, width), width)


def print_ranking(payload: dict[str, Any], width: int | None = None, file: Any = None) -> None:
    width = width or output_width(file)
    print_renderables(ranking_renderables(payload, width), width, file)


__all__ = ["print_ranking", "ranking_renderables", "ranking_text"]
