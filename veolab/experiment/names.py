"""Compact run names: the swept values a run differs by, short enough for MLflow's runs table.

    >>> compact_labels([(None, {"weather": "dark and stormy", "camera": "drone shot"}),
    ...                 (None, {"weather": "bright sun", "camera": "drone shot"}),
    ...                 (None, {"weather": "dark and stormy", "camera": "handheld"})])
    ['dark·drone', 'bright·drone', 'dark·handheld']

A variant's label (``weather=dark and stormy, camera=drone shot``) says everything; its compact
label keeps, of each swept string value, as many leading words as the plan needs to tell that
key's values apart (``dark`` and ``bright``), and writes other values as ``key=value``
(``duration=8``, the key cut first: ``gener…=false``). A named variant starts with its name and
leaves out the values its name already fixes. Values are cut to :data:`MAX_PART` characters and
the whole to :data:`MAX_LABEL` (a cut ends with ``…``): a name may then be shared, the tags
(``veolab.variant``) stay exact.
"""

from __future__ import annotations

import json
from typing import Any

SEP = "·"
# MLflow 3.17's run name column shows about 18 characters of a nested run: the stem, then
# ' s<seed>'
MAX_PART = 12
MAX_LABEL = 16


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _text(key: str, value: Any) -> tuple[str, bool]:
    """The value as text, and whether it is a string (strings are shortened by words); a key
    the variant does not set is left out."""
    if value is None:
        return "", False
    if isinstance(value, str):
        return " ".join(value.split()), True
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    # key=value, the key cut first: generate_audio=false -> gener…=false
    room = MAX_PART - len(text) - 1
    return (f"{_cut(key, room)}={text}" if room >= 2 else _cut(text, MAX_PART)), False


def _words_needed(values: set[str]) -> int:
    """The fewest leading words that tell ``values`` apart (all of them when none fewer do)."""
    longest = max((len(v.split()) for v in values), default=1)
    for k in range(1, longest + 1):
        if len({" ".join(v.split()[:k]) for v in values}) == len(values):
            return k
    return longest


def compact_labels(variants: list[tuple[str | None, dict[str, Any]]]) -> list[str]:
    """One compact label per ``(variant name, swept values)``, in order; ``default`` when a
    variant has neither."""
    keys = list(dict.fromkeys(k for _, swept in variants for k in swept))
    texts = [{k: _text(k, swept.get(k)) for k in keys} for _, swept in variants]
    words = {k: _words_needed({t[k][0] for t in texts if t[k][1]}) for k in keys}
    # the values a name fixes: the same for every variant of that name
    fixed: dict[str | None, set[str]] = {}
    for named in {n for n, _ in variants if n}:
        mine = [t for (n, _), t in zip(variants, texts, strict=True) if n == named]
        fixed[named] = {k for k in keys if len({t[k] for t in mine}) == 1}
    labels = []
    for (name, _), t in zip(variants, texts, strict=True):
        parts = [name] if name else []
        for k in keys:
            if k in fixed.get(name, set()):
                continue
            text, is_str = t[k]
            short = " ".join(text.split()[: words[k]]) if is_str else text
            parts.append(_cut(short, MAX_PART))  # "" for an unset key: joined away below
        labels.append(_cut(SEP.join(p for p in parts if p), MAX_LABEL) or "default")
    return labels


__all__ = ["MAX_LABEL", "MAX_PART", "SEP", "compact_labels"]
