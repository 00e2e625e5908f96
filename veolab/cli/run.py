"""``veolab run``: plan, confirm the spend, run the sweep with progress, and summarise it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from veolab.cli.common import handle_errors
from veolab.cli.planning import load_plan, plan_status_of
from veolab.errors import AbortedError


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--provider", default=None, help="Override the experiment's provider(s): one for every run."
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="Drop the grid cells their host cannot make (4k where it is not offered...) instead "
    "of refusing the plan; each is said.",
)
@click.option(
    "--model", default=None, help="Override the experiment's model(s): one model for every run."
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse a plan of more runs than this (default: the file's max_runs, 10000).",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=None, help="Generations in flight at once."
)
@click.option(
    "--budget", type=click.FloatRange(0), default=None, help="USD spending cap for this run."
)
@click.option("--force", is_flag=True, help="Pay again even for runs already done.")
@click.option(
    "--resubmit-unknown",
    is_flag=True,
    help="Pay again for submits whose outcome a crash left unknown.",
)
@click.option(
    "--repay-lost",
    is_flag=True,
    help="Pay again for billed runs whose output could not be obtained.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Skip runs another veolab process is working on, instead of waiting for them.",
)
@click.option(
    "--tracking-uri", default=None, help="MLflow store (default sqlite:///mlruns/mlflow.db)."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending above the threshold.")
@click.option(
    "--log-empty",
    is_flag=True,
    help="Log a sweep run in MLflow even when every run is already done.",
)
@handle_errors
def run(
    file: Path,
    provider: str | None,
    skip_unsupported: bool,
    model: str | None,
    max_runs: int | None,
    concurrency: int | None,
    budget: float | None,
    force: bool,
    resubmit_unknown: bool,
    repay_lost: bool,
    no_wait: bool,
    tracking_uri: str | None,
    yes: bool,
    log_empty: bool,
) -> None:
    """Run an experiment FILE: generate, analyse and log every run to MLflow.

    Runs already done are not paid again (unless --force); killed runs resume.
    """
    from veolab.cli.progress import Startup, SweepProgress

    with Startup() as say:  # on a terminal, a sign of life before the slow imports
        say(f"Planning {file}...")
        from veolab.runner import RunOptions, run_plan
        from veolab.runner.sweep import nothing_to_do
        from veolab.tracking.store import Tracker

        p = load_plan(file, provider, max_runs, skip_unsupported, model)
        say(_opening(tracking_uri))
        tracker = Tracker(tracking_uri)
        say("Checking what is already done (MLflow, the video store, the ledger)...")
        status = plan_status_of(p, tracker, force)
    opts = RunOptions(
        provider=provider,
        model=model,
        concurrency=concurrency,
        budget=budget,
        yes=yes or _confirmed(p, status),
        log_empty=log_empty,
        force=force,
        resubmit_unknown=resubmit_unknown,
        repay_lost=repay_lost,
        no_wait=no_wait,
        tracking_uri=tracking_uri,
    )
    if nothing_to_do(p, status) and not log_empty:
        run_plan(p, opts, tracker=tracker, status=status)  # creates nothing
        click.echo(
            f"{p.experiment.name}: nothing to do: {len(p.runs)} runs already done "
            "(--force runs them again)"
        )
        return
    with SweepProgress(p, status) as progress:
        result = run_plan(
            p,
            opts,
            tracker=tracker,
            status=status,
            on_event=progress.event,
            on_note=progress.note,
        )
    _summary(p, result)
    sys.exit(result.exit_code)


def _opening(tracking_uri: str | None) -> str:
    from veolab.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if db is not None and not db.is_file():
        return f"Creating the MLflow store {db} (the first time takes a while)..."
    return f"Opening the MLflow store {uri}..."


def _confirmed(p, status) -> bool:
    """Ask before a paid plan spends above confirm_above (never without a terminal)."""
    from veolab.runner.sweep import spend_to_confirm

    estimate = spend_to_confirm(p, status)
    if not estimate:
        return False
    msg = (
        f"This will pay for {len(status.to_pay(p))} generations, about ${estimate:.2f} on "
        f"{p.describe_hosts()}. Continue?"
    )
    if not sys.stdin.isatty() or not click.confirm(msg, default=False, err=True):
        raise AbortedError(
            f"not confirmed: estimated ${estimate:.2f} is above confirm_above "
            f"${p.experiment.confirm_above:.2f}; pass --yes to run without asking"
        )
    return True


def _summary(p, result) -> None:
    from veolab.runner.sweep import CHECK_FAILED, FAILED, SKIPPED

    click.echo(
        f"{p.experiment.name}: {len(p.runs)} runs | {result.describe_counts()} | "
        f"spend ${result.spend:.2f} | {result.wall:.1f} s"
    )
    shared = sum(1 for o in result.outcomes if o.elsewhere)
    if shared:  # a team's sweep: the other workers' share (their counts are theirs)
        click.echo(f"  {shared} of them dealt with by other workers of the sweep")
    for o in sorted(result.outcomes, key=lambda o: o.index):
        if o.outcome in (FAILED, SKIPPED) and o.error:
            click.echo(f"  run {o.index}: {o.outcome}: {o.error}", err=True)
        elif o.outcome == CHECK_FAILED:
            click.echo(f"  run {o.index}: failed checks (MLflow run {o.run_id})", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"MLflow sweep run {result.parent_run_id} (experiment {result.experiment_id})")
    click.echo(f"see its runs with: veolab runs {p.experiment.name}, or open: veolab ui")
