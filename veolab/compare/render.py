"""Terminal output of a comparison: the groups table and the A/B table, readable at any width.

    print_result(result)                      # at output_width(): COLUMNS, terminal, else 80
    text = result_text(result, width=80)      # the same as plain text

Both tables are laid out for the width they are printed at (``layout.pick``): groups as columns
when they fit, else groups as rows with the metrics split over as many tables as the width
needs; the A/B as one table, else one table per group, else two lines per metric. No cell is
cut and no word is broken: a mean and its interval, a difference and its interval, a metric
name and a verdict always stay whole on one line. Long group labels become keys (``A``,
``B``, ...) with a legend (``A = weather=bright sunny daylight, camera=drone (baseline)``)
when they do not fit as column headers. A/B rows with too few runs for a verdict say so once
per comparison (a note) and show the differences marked ``inconclusive``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from veolab.compare.layout import (
    fits,
    natural_width,
    output_width,
    pick,
    print_renderables,
    render_text,
)
from veolab.compare.stats import MIN_N, TOO_FEW, ABResult
from veolab.compare.table import BETTER, WORSE, CompareResult, Group, judgement

INCONCLUSIVE = "inconclusive"
# a verdict's colour: better green, worse red, a difference with no better way bold
STYLES = {BETTER: "green", WORSE: "red"}
AB_HEADERS = ("metric", "difference [95% CI]", "Welch p", "pairs", "Wilcoxon p", "verdict")
MAX_HEADER_LINES = 3  # a group label that needs more lines as a column header becomes a key
SHORT_LABEL = 20  # with 3 groups or more, longer labels become keys (they would fill the A/B)


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
    if lo is not None and hi is not None and abs(d) < 1e-9 * max(abs(lo), abs(hi)):
        d = 0.0  # rounding noise of equal means (+1.4e-14 next to an interval of ±18)
    sign = "+" if d > 0 else ""
    if lo is None or hi is None:
        return f"{sign}{fmt(d)}"
    return f"{sign}{fmt(d)} [{fmt(lo)}, {fmt(hi)}]"


def verdict_text(a: ABResult) -> str:
    """The verdict as printed: ``inconclusive`` stands for ``too few runs`` (a note says why)."""
    return INCONCLUSIVE if a.verdict == TOO_FEW else a.verdict


def _two_lines(text: str) -> str:
    """``value [lo, hi]`` as the value over its interval."""
    return text.replace(" [", "\n[", 1).replace(" (n=", "\n(n=", 1)


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def _seeds(seeds: list[int]) -> str:
    """``1,2,3``; a long list with runs of 3 or more consecutive seeds as ranges (``1-10,20``)."""
    plain = ",".join(map(str, seeds))
    if len(plain) <= 12:
        return plain or "–"
    runs: list[list[int]] = []
    for s in seeds:
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) >= 3 else ",".join(map(str, r)) for r in runs)


class _Names:
    """How groups are named in the tables: their labels, or keys with a legend."""

    def __init__(self, result: CompareResult, keyed: bool):
        self.keyed = keyed
        prefix = f"{result.by}="
        strip = result.by != "variant" and all(g.label.startswith(prefix) for g in result.groups)
        self.full = {
            g.label: g.label.removeprefix(prefix) if strip else g.label for g in result.groups
        }
        n = len(result.groups)
        keys = [chr(ord("A") + i) for i in range(n)] if n <= 26 else [f"G{i + 1}" for i in range(n)]
        self.key = {g.label: k for g, k in zip(result.groups, keys, strict=True)}
        self.baseline = result.baseline

    def __call__(self, label: str) -> str:
        return self.key[label] if self.keyed else self.full[label]

    def header(self, label: str) -> str:
        if self.keyed:
            return self.key[label]
        return self.full[label] + (" (baseline)" if label == self.baseline else "")

    def legend(self) -> list[Any]:
        if not self.keyed:
            return []
        from rich.table import Table

        t = Table.grid(padding=(0, 1))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for label, key in self.key.items():
            t.add_row(
                f"{key} =", self.full[label] + (" (baseline)" if label == self.baseline else "")
            )
        return [t]

    def in_text(self, text: str) -> str:
        """A note with its group labels replaced by the names the tables use."""
        if not self.keyed:
            return text
        for label in sorted(self.key, key=len, reverse=True):
            text = text.replace(label, self.key[label])
        return text


# --- building blocks --------------------------------------------------------------------------


def _table(
    headers: Sequence[tuple[str, str]],
    rows: list[list[Any]],
    width: int,
    sized_by: list[list[Any]] | None = None,
):
    """A compact table: a header rule, no borders; ``headers`` are (text, justify). Columns
    are as wide as their widest cell (of ``sized_by`` when given: tables that share it line up);
    headers wrap at spaces when the table is too wide with them on one line."""
    from rich import box
    from rich.table import Table

    def plain(cell: Any) -> str:
        return cell.plain if hasattr(cell, "plain") else str(cell)

    sized_by = sized_by or rows
    cells = [max((_width(plain(r[i])) for r in sized_by), default=0) for i in range(len(headers))]
    natural = [max(c, _width(h)) for c, (h, _) in zip(cells, headers, strict=True)]
    narrow = [
        max(c, max((len(w) for w in h.split()), default=0))
        for c, (h, _) in zip(cells, headers, strict=True)
    ]
    gaps = 2 * (len(headers) - 1)
    widths = narrow
    for lines in range(1, MAX_HEADER_LINES + 1):  # headers on as few lines as the width allows
        fewer = [
            next(w for w in range(lo, hi + 1) if _header_lines(h, w) <= lines or w == hi)
            for lo, hi, (h, _) in zip(narrow, natural, headers, strict=True)
        ]
        if sum(fewer) + gaps <= width:
            widths = fewer
            break
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)
    for (h, justify), w in zip(headers, widths, strict=True):
        t.add_column(h, justify=justify, width=w, no_wrap=False, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        t.add_row(*r)
    return t


def _header_lines(text: str, width: int) -> int:
    import textwrap

    return len(textwrap.wrap(text, width, break_long_words=False)) or 1


def _labels_fit(table: Any, names: _Names, labels: list[str]) -> bool:
    """Each full label, as a column header, wraps at spaces into few enough lines."""
    widths = {c.header: c.width or 0 for c in table.columns}
    for label in labels:
        head = names.header(label)
        w = widths.get(head, 0)
        if max(len(x) for x in head.split()) > w or _header_lines(head, w) > MAX_HEADER_LINES:
            return False
    return True


# --- the groups table --------------------------------------------------------------------------


def _stat_rows(result: CompareResult) -> list[tuple[str, list[str]]]:
    groups = result.groups
    rows = [
        ("runs", [str(g.runs) for g in groups]),
        ("failures", [str(g.failures) for g in groups]),
        (
            "checks passed",
            [f"{g.checks_passed}/{g.checks_total}" if g.checks_total else "–" for g in groups],
        ),
        ("seeds", [_seeds(g.seeds) for g in groups]),
    ]
    if any(g.spend for g in groups):  # a paid host: what a generation and a usable clip cost
        rows += [
            ("spend", [f"${g.spend:.2f}" for g in groups]),
            ("usable", [str(g.usable) for g in groups]),
            ("$/generation", [_usd(g.cost_per_generation) for g in groups]),
            ("$/usable clip", [_usd(g.cost_per_usable) for g in groups]),
        ]
    for m in result.metrics:
        rows.append((m, [_summary(g, m) for g in groups]))
    return rows


def _usd(x: float | None) -> str:
    return "–" if x is None else f"${x:.2f}"


def _summary(g: Group, m: str) -> str:
    s = g.summaries[m]
    return mean_ci_text(s.mean, s.lo, s.hi, s.n)


def _groups_wide(result: CompareResult, names: _Names, width: int, two_lines: bool) -> list[Any]:
    """Groups as columns, one row per count and metric."""
    stats = _stat_rows(result)
    headers = [("", "left")] + [(names.header(g.label), "right") for g in result.groups]
    rows = [
        [name] + [_two_lines(c) if two_lines and name in result.metrics else c for c in cells]
        for name, cells in stats
    ]
    return [_table(headers, rows, width)]


def _groups_long(result: CompareResult, names: _Names, width: int) -> list[Any]:
    """Groups as rows, one column per count and metric, split into tables that fit."""
    stats = _stat_rows(result)
    first = ("group", "left")
    labels = [names(g.label) for g in result.groups]

    def build(cols: list[int]):
        headers = [first] + [(stats[i][0], "right") for i in cols]
        rows = [[labels[j]] + [stats[i][1][j] for i in cols] for j in range(len(labels))]
        return _table(headers, rows, width)

    tables: list[Any] = []
    cols: list[int] = []
    for i in range(len(stats)):
        if cols and natural_width(build([*cols, i])) > width:
            tables.append(build(cols))
            cols = []
        cols.append(i)
    tables.append(build(cols))
    out: list[Any] = []
    for t in tables:
        out += [t, ""] if t is not tables[-1] else [t]
    return out


# --- the A/B table ------------------------------------------------------------------------------


def _verdict_cell(a: ABResult) -> Any:
    from rich.text import Text

    if a.verdict == TOO_FEW:
        return Text(verdict_text(a), style="dim yellow")
    judged = judgement(a.metric, a.verdict)
    style = STYLES.get(judged, "bold") if judged else ""
    return Text(verdict_text(a), style=style)


def _ab_cells(a: ABResult) -> list[Any]:
    return [
        a.metric,
        diff_text(a.unpaired.diff, a.unpaired.lo, a.unpaired.hi),
        fmt(a.unpaired.welch_p),
        str(a.paired.n_pairs),
        fmt(a.paired.p_value),
        _verdict_cell(a),
    ]


def _ab_headers() -> list[tuple[str, str]]:
    return [(h, "right" if h.endswith((" p", "pairs")) else "left") for h in AB_HEADERS]


def _comparisons(result: CompareResult) -> dict[str, list[ABResult]]:
    by_group: dict[str, list[ABResult]] = {}
    for a in result.ab:
        by_group.setdefault(a.group, []).append(a)
    return by_group


def _ab_title(result: CompareResult, names: _Names) -> str:
    groups = list(_comparisons(result))
    if len(groups) == 1:
        return f"A/B: {names(groups[0])} vs {names(result.baseline)}"
    return f"A/B against {names(result.baseline)}"


def _ab_one_table(result: CompareResult, names: _Names, width: int) -> list[Any]:
    many = len(_comparisons(result)) > 1
    headers = ([("group", "left")] if many else []) + _ab_headers()
    rows = [([names(a.group)] if many else []) + _ab_cells(a) for a in result.ab]
    return [_ab_title(result, names), _table(headers, rows, width)]


def _ab_blocks(result: CompareResult, names: _Names, width: int) -> list[Any]:
    out: list[Any] = []
    every = [_ab_cells(a) for a in result.ab]
    for group, rows in _comparisons(result).items():
        title = f"A/B: {names(group)} vs {names(result.baseline)}"
        out += [title, _table(_ab_headers(), [_ab_cells(a) for a in rows], width, every)]
    return out


def _ab_records(result: CompareResult, names: _Names, width: int) -> list[Any]:
    """Two lines a metric, for narrow widths: the difference and the verdict, then the tests."""
    from rich.text import Text

    out: list[Any] = []
    for group, rows in _comparisons(result).items():
        out.append(f"A/B: {names(group)} vs {names(result.baseline)}")
        mw = max(len(a.metric) for a in rows)
        diffs = [diff_text(a.unpaired.diff, a.unpaired.lo, a.unpaired.hi) for a in rows]
        dw = max(len(d) for d in diffs)
        tests = [
            f"Welch p {fmt(a.unpaired.welch_p)} · {a.paired.n_pairs} pairs · "
            f"Wilcoxon p {fmt(a.paired.p_value)}"
            for a in rows
        ]
        longest = max(len(verdict_text(a)) for a in rows)
        gap = next((g for g in (2, 1) if mw + dw + longest + 2 * g <= width), 1)
        indent = " " * min(mw + gap, max(2, width - max(len(t) for t in tests)))  # under the diff
        text = Text()
        for a, diff, test in zip(rows, diffs, tests, strict=True):
            verdict = _verdict_cell(a)
            first = f"{a.metric:<{mw}}{' ' * gap}{diff:<{dw}}{' ' * gap}"
            if len(first) + len(verdict) <= width:
                text.append(first)
            else:  # the verdict goes on a line of its own rather than being broken
                text.append(f"{a.metric:<{mw}}{' ' * gap}{diff}\n{indent}")
            text.append_text(verdict)
            text.append(f"\n{indent}")
            text.append(test, style="dim")
            text.append("\n")
        text.rstrip()
        out.append(text)
    return out


# --- notes -------------------------------------------------------------------------------------


def _notes(result: CompareResult, names: _Names) -> list[str]:
    """The result's notes, then one per comparison without a verdict, then the A/B notes."""
    notes = [names.in_text(n) for n in result.notes]
    too_few: dict[str, list[str]] = {}
    for group, rows in _comparisons(result).items():
        few = [a for a in rows if a.verdict == TOO_FEW]
        if few:
            sizes = sorted({(a.n_baseline, a.n_group) for a in few})
            n = " or ".join(f"n={nb} vs n={ng}" for nb, ng in sizes)
            what = "" if len(few) == len(rows) else f" in {', '.join(a.metric for a in few)}"
            too_few.setdefault(f"{n}{what}", []).append(names(group))
    for why, groups in too_few.items():
        notes.append(
            f"{', '.join(groups)} vs {names(result.baseline)}: {why}, fewer than {MIN_N} runs a "
            f"group: no verdict, the differences are shown as {INCONCLUSIVE}"
        )
    for a in result.ab:
        if a.verdict == TOO_FEW:
            continue
        for n in a.notes:
            if n not in notes:
                notes.append(n)
    return notes


# --- the whole output ----------------------------------------------------------------------------


def layouts(result: CompareResult, width: int) -> list[Any]:
    """The renderables to print at ``width``: full group labels as column headers when the
    groups fit as columns with them, else keys and a legend."""
    from rich.text import Text

    names = _Names(result, keyed=False)
    labels = [g.label for g in result.groups]
    wide = [
        _groups_wide(result, names, width, two_lines=False),
        _groups_wide(result, names, width, two_lines=True),
    ]
    short = len(labels) <= 2 or max(len(names.full[x]) for x in labels) <= SHORT_LABEL
    fitting = [t for t in wide if short and fits(t, width) and _labels_fit(t[0], names, labels)]
    groups: Sequence[Any]
    if fitting:
        groups = fitting[0]
    else:
        names = _Names(result, keyed=True)
        groups = pick(
            [
                _groups_wide(result, names, width, two_lines=False),
                _groups_wide(result, names, width, two_lines=True),
                _groups_long(result, names, width),
            ],
            width,
        )
    out: list[Any] = [Text(f"{result.experiment}: {len(result.groups)} groups by {result.by}")]
    out += [*names.legend(), *groups, "mean [95% confidence interval]"]
    if result.ab:
        out += pick(
            [
                _ab_one_table(result, names, width),
                _ab_blocks(result, names, width),
                _ab_records(result, names, width),
            ],
            width,
        )
    out += [f"note: {n}" for n in _notes(result, names)]
    if result.ranking is not None:
        from veolab.review.render import ranking_renderables

        out += ["", *ranking_renderables(result.ranking, width)]
    return out


def result_text(result: CompareResult, width: int = 80) -> str:
    """What ``veolab compare`` prints at ``width`` columns, as plain text."""
    return render_text(layouts(result, width), width)


def print_result(result: CompareResult, width: int | None = None, file: Any = None) -> None:
    """Print the comparison at ``width`` (default :func:`layout.output_width`)."""
    width = width or output_width(file)
    print_renderables(layouts(result, width), width, file)


__all__ = ["diff_text", "fmt", "mean_ci_text", "print_result", "result_text", "verdict_text"]
