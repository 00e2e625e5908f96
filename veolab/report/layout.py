"""How the report lays out its videos: seed rows across the groups, or a grid of two variables.

    grid = crossed_grid(table, result)    # None unless two keys cross into rows x columns
    rows = seed_rows([col["runs_detail"] for col in columns])

The report shows one run of each group side by side per seed, so a seed's videos line up in a
row and play together (the player inlined from ``veolab/review/static/player.js``). When the
groups are the cells of two crossed variables (``subject`` x ``lighting``: every pair of values
once), each seed's videos form a grid instead: the variable with fewer values across (up to
:data:`MAX_GRID_COLUMNS`), the other down, in the experiment file's order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veolab.compare.runs import RunTable
from veolab.compare.table import CompareResult
from veolab.errors import VeolabError
from veolab.tracking import schema as S

MAX_GRID_COLUMNS = 4
STATIC = Path(__file__).resolve().parents[1] / "review" / "static"
LAYOUTS = ("auto", "columns", "grid")


@dataclass
class Grid:
    """Groups as the cells of ``rows`` x ``cols`` values of two keys."""

    row_key: str
    col_key: str
    rows: list[str]
    cols: list[str]
    cells: list[list[int]]  # [row][col] -> index of the group in the report's columns

    @property
    def shape(self) -> str:
        return f"{len(self.rows)}x{len(self.cols)}"


def _name(column: str) -> str:
    """``params.var.lighting`` -> ``lighting`` (as the variant labels say it)."""
    return column.removeprefix("params.").removeprefix(S.VAR_PREFIX)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def crossed_grid(table: RunTable, result: CompareResult) -> Grid | None:
    """The grid when exactly two keys tell the groups apart and every pair of their values is
    one group; else None (one key, three or more, or a pair of values missing)."""
    frame = table.frame
    groups = result.groups
    if len(groups) < 4:
        return None
    keys = [
        c
        for c in frame.columns
        if c.startswith("params.") and c not in ("params.prompt", "params.seed")
    ]
    per_group: list[dict[str, str]] = []
    for g in groups:
        sub = frame[frame["run_id"].isin(g.run_ids)]
        values = {}
        for c in keys:
            seen = {"" if _missing(v) else str(v) for v in sub[c]}
            if len(seen) == 1:
                values[c] = seen.pop()
        per_group.append(values)
    varying = [
        c for c in keys if all(c in v for v in per_group) and len({v[c] for v in per_group}) > 1
    ]
    if len(varying) != 2:
        return None
    order = table.order
    varying.sort(key=lambda c: (list(order).index(c) if c in order else len(order), c))

    def values_of(c: str) -> list[str]:
        have = list(dict.fromkeys(v[c] for v in per_group))
        known = [x for x in order.get(c, []) if x in have]
        return known + sorted((x for x in have if x not in known), key=_sort_key)

    a, b = varying
    va, vb = values_of(a), values_of(b)
    if len(va) * len(vb) != len(groups):
        return None
    if len(va) < len(vb):  # across: the key with fewer values (the second on a tie)
        a, b, va, vb = b, a, vb, va
    if len(vb) > MAX_GRID_COLUMNS:
        return None
    where = {(v[a], v[b]): i for i, v in enumerate(per_group)}
    if len(where) != len(groups):
        return None
    cells = [[where[(x, y)] for y in vb] for x in va]
    return Grid(_name(a), _name(b), va, vb, cells)


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def seed_rows(runs_by_group: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per seed (runs without a seed last): each group's run of that seed, or None.

    A group with several runs of one seed (``--all-sweeps``) fills as many rows of that seed.
    """
    keys: list[tuple[int | None, int]] = []
    for runs in runs_by_group:
        count: dict[int | None, int] = {}
        for r in runs:
            n = count.get(r["seed"], 0)
            count[r["seed"]] = n + 1
            if (r["seed"], n) not in keys:
                keys.append((r["seed"], n))
    keys.sort(key=lambda k: (k[0] is None, k[0] or 0, k[1]))
    rows = []
    for seed, n in keys:
        cells = []
        for runs in runs_by_group:
            same = [r for r in runs if r["seed"] == seed]
            cells.append(same[n] if n < len(same) else None)
        rows.append({"seed": seed, "cells": cells})
    return rows


def player_assets() -> tuple[str, str]:
    """player.js and player.css, to inline: the report stays one file and its media folder."""
    js = (STATIC / "player.js").read_text(encoding="utf-8")
    css = (STATIC / "player.css").read_text(encoding="utf-8")
    # inlined into <script> and <style>: neither may close its element early
    if "</script" in js.lower() or "</style" in css.lower():
        raise VeolabError(f"{STATIC}: player.js or player.css closes its element: cannot inline")
    return js, css


__all__ = ["LAYOUTS", "MAX_GRID_COLUMNS", "Grid", "crossed_grid", "player_assets", "seed_rows"]
