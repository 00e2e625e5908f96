"""The capability table of docs/hosts.md, from the installed providers' ``capabilities``.

    .venv/bin/python bench/hosts_table.py            # print it
    .venv/bin/python bench/hosts_table.py --write    # put it in docs/hosts.md, between its marks

tests/providers/test_capabilities.py checks that the page holds what this prints, so a price or
a row changed in code and not in the docs (or the other way round) fails the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from veolab.providers.capabilities import installed_rows, markdown_table

PAGE = Path(__file__).resolve().parents[1] / "docs" / "hosts.md"
BEGIN = "<!-- the capability table: bench/hosts_table.py --write -->"
END = "<!-- end of the capability table -->"


def current(page: Path = PAGE) -> str:
    """What the page holds between the marks."""
    text = page.read_text()
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip("\n") + "\n"


def write(page: Path = PAGE) -> None:
    text = page.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{markdown_table(installed_rows())}{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(markdown_table(installed_rows()), end="")
