"""Word-level differences between two prompts, for highlighting in the report.

>>> prompt_diff("a fox, bright sunny light", "a fox, dark night light")
[('same', 'a fox, '), ('del', 'bright sunny'), ('ins', 'dark night'), ('same', ' light')]
>>> prompt_diff("a b c", "a b c d")
[('same', 'a b c '), ('ins', 'd')]
"""

from __future__ import annotations

import difflib
import re

_TOKENS = re.compile(r"\s+|[^\s]+")


def prompt_diff(baseline: str, other: str) -> list[tuple[str, str]]:
    """Segments of ``other`` against ``baseline``: ("same" | "ins" | "del", text).

    Joining the "same" and "ins" texts gives ``other`` back; "del" is what the baseline had.
    Neighbouring changes separated only by spaces merge into one deletion and one insertion.
    """
    a, b = _TOKENS.findall(baseline), _TOKENS.findall(other)
    raw: list[tuple[str, str]] = []
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        btext = "".join(b[j1:j2])
        if op == "equal":
            raw.append(("same", btext))
            continue
        core = btext.strip()
        if op in ("delete", "replace"):
            raw.append(("del", "".join(a[i1:i2]).strip()))
        if not core:
            raw.append(("same", btext))
            continue
        lead, trail = btext[: len(btext) - len(btext.lstrip())], btext[len(btext.rstrip()) :]
        raw += [("same", lead), ("ins", core), ("same", trail)]
    return _merge([(k, t) for k, t in raw if t])


def _merge(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(segments):
        kind, text = segments[i]
        if kind == "same":
            if out and out[-1][0] == "same":
                out[-1] = ("same", out[-1][1] + text)
            else:
                out.append((kind, text))
            i += 1
            continue
        dels: list[str] = []
        ins: list[str] = []
        j = i
        while j < len(segments):
            k, t = segments[j]
            if k == "del":
                dels.append(t)
            elif k == "ins":
                ins.append(t)
            elif not (t.isspace() and j + 1 < len(segments) and segments[j + 1][0] != "same"):
                break
            j += 1
        if dels:
            out.append(("del", " ".join(dels)))
        if ins:
            out.append(("ins", " ".join(ins)))
        i = j
    return out
