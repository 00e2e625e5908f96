"""Tables whose rows carry run ids a person copies: ids whole, narrow enough for 80 columns.

    table = id_table()
    table.add_column("id", **ID_COLUMN)
    table.add_column("seed", justify="right", no_wrap=True)

No borders and one space between columns (a bordered table with a 32-character id and half a
dozen numbers does not fit 80 columns). Columns are ``no_wrap``, so rich narrows nothing it
would have to cut; a two-word header breaks on an explicit newline instead. Should the terminal
still be too narrow, an id folds onto the next line, whole: never an ellipsis.
"""

from __future__ import annotations

from typing import Any

ID_COLUMN: dict[str, Any] = {"no_wrap": True, "overflow": "fold"}


def id_table() -> Any:
    """A table without borders or title (print the title as a line of its own: a table's title
    is padded to the table's width, trailing spaces that a copy or a pipe picks up)."""
    from rich.table import Table

    return Table(
        box=None,
        padding=(0, 1, 0, 1),
        collapse_padding=True,
        pad_edge=False,
        header_style="bold",
    )


__all__ = ["ID_COLUMN", "id_table"]
