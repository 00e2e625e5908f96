"""Fitting terminal tables to the width they are printed at.

    width = output_width()                  # COLUMNS, else the terminal's, else 80
    best = pick([wide_table, long_table], width)
    print_renderables(best, width)

A table is laid out for a known width: ``COLUMNS`` when set, else the width of the terminal
stdout is, else 80 (piped or redirected output: CI logs, ``| less``, ``> file``). Rich on its
own asks stdin and stderr too, so ``veolab compare x > file`` used to be as wide as the
terminal it was typed in. Each caller offers layouts in order of preference; :func:`pick` takes
the first whose every table fits the width without shrinking a column (:func:`fits`).
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

DEFAULT_WIDTH = 80

Renderables = Sequence[Any]


def output_width(stream: TextIO | None = None) -> int:
    """``COLUMNS`` if it is a positive number, else the terminal's width, else 80."""
    cols = os.environ.get("COLUMNS", "").strip()
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass  # a stream without a file descriptor (captured output): not a terminal
    return DEFAULT_WIDTH


def _console(width: int, file: TextIO | None = None, terminal: bool | None = None):
    from rich.console import Console

    return Console(
        width=width,
        file=file,
        force_terminal=terminal,
        highlight=False,
        soft_wrap=False,
        markup=False,  # a label is text: "[bold]" or ":smile:" in it is printed as given
        emoji=False,
    )


def natural_width(renderable: Any) -> int:
    """The width a renderable takes when nothing limits it."""
    from rich.measure import Measurement

    console = _console(10_000, io.StringIO())
    return Measurement.get(console, console.options, renderable).maximum


def fits(renderables: Renderables, width: int) -> bool:
    """Every table (any renderable) fits ``width`` at its natural width."""
    from rich.table import Table

    return all(natural_width(r) <= width for r in renderables if isinstance(r, Table))


def render_text(renderables: Renderables, width: int) -> str:
    """Plain text, as printed to a pipe at ``width`` (trailing spaces removed)."""
    buf = io.StringIO()
    console = _console(width, buf, terminal=False)
    for r in renderables:
        console.print(r)
    return re.sub(r"[ \t]+$", "", buf.getvalue(), flags=re.M)


def pick(layouts: Sequence[Renderables], width: int) -> Renderables:
    """The first layout that fits ``width``; the last one when none does (its cells fold
    rather than being cut)."""
    return next((r for r in layouts if fits(r, width)), layouts[-1])


def print_renderables(renderables: Renderables, width: int, file: TextIO | None = None) -> None:
    """Print at ``width``: with colours on a terminal, as plain text without trailing spaces
    anywhere else."""
    out = file or sys.stdout
    console = _console(width, out)
    if console.is_terminal:
        for r in renderables:
            console.print(r)
    else:
        out.write(render_text(renderables, width))
        out.flush()


__all__ = [
    "DEFAULT_WIDTH",
    "fits",
    "natural_width",
    "output_width",
    "pick",
    "print_renderables",
    "render_text",
]
