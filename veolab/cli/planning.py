"""What ``veolab plan`` and ``veolab run`` share: the plan of an experiment file, the store it is
checked against (never created by reading) and its status against the store, the video store and
the ledger."""

from __future__ import annotations

from pathlib import Path


def load_plan(
    file: Path,
    provider: str | None,
    max_runs: int | None = None,
    skip_unsupported: bool = False,
    model: str | None = None,
):
    """The plan of ``file``; the grid cells its hosts cannot make, when skipped, are said on
    stderr (one line each)."""
    import click

    from veolab.experiment import load_experiment
    from veolab.runner.resolve import plan_experiment

    plan = plan_experiment(
        load_experiment(file),
        provider=provider,
        model=model,
        max_runs=max_runs,
        skip_unsupported=skip_unsupported,
    )
    if plan.unsupported:
        n = sum(u.runs for u in plan.unsupported)
        cells = len(plan.unsupported)
        click.echo(
            f"skipped {cells} grid cell{'s' if cells > 1 else ''} ({n} run{'s' if n > 1 else ''}) "
            "their host cannot make (--skip-unsupported):",
            err=True,
        )
        for u in plan.unsupported:
            click.echo(f"  {u.describe()}", err=True)
    return plan


def existing_tracker(tracking_uri: str | None):
    """A Tracker when the store exists (plan never creates one)."""
    from veolab.tracking.store import Tracker, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None
    return Tracker(uri)


def plan_status_of(plan, tracker, force: bool, ledger=None):
    """The plan's status; the ledger is read only where it exists (plan creates nothing)."""
    from veolab.runner import plan_status
    from veolab.runner.ledger import Ledger, existing_ledger
    from veolab.runner.videostore import VideoStore

    own = ledger is None
    if own and existing_ledger():
        ledger = Ledger()
    try:
        return plan_status(plan, tracker, VideoStore(), ledger, force=force)
    finally:
        if own and ledger is not None:
            ledger.close()
