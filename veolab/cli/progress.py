"""The rich progress bar of ``veolab run``: done / failed / cached counts and spend so far."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class SweepProgress:
    def __init__(self, plan, status) -> None:
        self.plan = plan
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.counts = {"done": 0, "failed": 0, "cached": 0, "skipped": 0}
        self.spend = 0.0
        self._lock = threading.Lock()
        self.task: TaskID | None = None

    def _text(self) -> str:
        c = self.counts
        return (
            f"done {c['done']} · failed {c['failed']} · cached {c['cached']} · "
            f"skipped {c['skipped']} · ${self.spend:.2f}"
        )

    def __enter__(self) -> SweepProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task(
            "run", total=len(self.plan.runs), name=self.plan.experiment.name, counts=self._text()
        )
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def event(self, kind: str, spec, outcome) -> None:
        if kind != "end" or outcome is None:
            return
        with self._lock:
            key = {
                "generated": "done",
                "failed_checks": "done",
                "already_done": "cached",
                "relogged": "cached",
                "failed": "failed",
                "skipped": "skipped",
            }[outcome.outcome]
            self.counts[key] += 1
            self.spend += outcome.cost if outcome.outcome in ("generated", "failed_checks") else 0.0
            if self.task is not None:
                self.progress.update(self.task, advance=1, counts=self._text())
