"""A process that works the ledger, for the concurrency tests (run as a script).

    python ledger_worker.py claim URL OUT KEYS_FILE SEED     # claim every key it can, in its order
    python ledger_worker.py pay URL OUT EXPERIMENT LIMIT N    # reserve $1 payments until refused

Each writes what it got to OUT as JSON. They start together: each says it is ready (the file
``OUT.ready``) and waits for the file ``go`` beside OUT before its first statement; a claimer
lives on, holding its claims, until the file ``end`` is there (a dead owner's claims may be
taken over).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from veolab.errors import BudgetExceededError
from veolab.runner.ledger import Claim, Ledger


def _answer(out: Path, data: dict) -> None:
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(data))
    tmp.rename(out)


def _wait_for_go(out: Path) -> None:
    (out.parent / f"{out.stem}.ready").touch()
    while not (out.parent / "go").exists():
        time.sleep(0.01)


def claim(url: str, out: Path, keys_file: str, seed: str) -> None:
    keys = Path(keys_file).read_text().split()
    random.Random(int(seed)).shuffle(keys)
    ledger = Ledger(url)
    _wait_for_go(out)
    got, busy = [], 0
    t0 = time.perf_counter()
    for key in keys:
        if isinstance(ledger.claim(key, "bench"), Claim):
            got.append(key)
        else:
            busy += 1
    wall = time.perf_counter() - t0
    _answer(out, {"claimed": got, "busy": busy, "wall": wall})
    while not (out.parent / "end").exists():
        time.sleep(0.05)


def pay(url: str, out: Path, experiment: str, limit: str, n: str) -> None:
    ledger = Ledger(url)
    _wait_for_go(out)
    paid = []
    for i in range(int(n)):
        key = f"{out.stem}/{i}"
        ledger.claim(key, experiment)
        try:
            ledger.begin_payment(key, experiment, 1.0, float(limit))
        except BudgetExceededError:
            continue
        paid.append(key)
    _answer(out, {"paid": paid})
    ledger.close()


if __name__ == "__main__":
    {"claim": claim, "pay": pay}[sys.argv[1]](sys.argv[2], Path(sys.argv[3]), *sys.argv[4:])
