"""``veolab runs``: the generation runs of an experiment, a sweep or a rerun, ids whole."""

from __future__ import annotations

import json

import click

from veolab.cli.common import handle_errors

TRACKING_HELP = "MLflow store (default: MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."


@click.command()
@click.argument("experiment", required=False)
@click.option(
    "--status",
    type=click.Choice(["finished", "failed", "running", "killed"], case_sensitive=False),
    default=None,
    help="Only runs in this MLflow status.",
)
@click.option("--variant", default=None, help="Only this variant: its id, name or label.")
@click.option("--seed", "seeds", type=int, multiple=True, help="Only this seed (repeatable).")
@click.option("--failed", is_flag=True, help="Only runs that failed or failed a check.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N runs.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@handle_errors
def runs(
    experiment: str | None,
    status: str | None,
    variant: str | None,
    seeds: tuple[int, ...],
    failed: bool,
    limit: int | None,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """List the generation runs of EXPERIMENT: id, variant, seed, status, checks, cost, rating.

    EXPERIMENT is an experiment name (its runs from every sweep), a sweep's run id (that sweep's
    runs) or the parent run id `veolab rerun` printed (the runs it made); an id whole or a unique
    prefix of at least 4 characters. Without it: the experiment run most recently. The ids go
    to rate, rerun and the MLflow UI, whole or as a prefix.
    """
    from veolab.tracking.listing import list_runs
    from veolab.tracking.store import existing_store

    listing = list_runs(
        experiment,
        tracker=existing_store(tracking_uri),
        status=status,
        variant=variant,
        seeds=seeds,
        failed=failed,
        limit=limit,
    )
    if as_json:
        click.echo(json.dumps(listing.to_dict(), indent=2))
        return
    print_runs(listing)


def _title(listing) -> str:
    if listing.parent_kind == "sweep":
        where = f"{listing.experiment}, sweep {listing.parent_run_id}"
    elif listing.parent_kind == "rerun":
        where = f"{listing.experiment}, rerun {listing.parent_run_id}"
    else:
        where = listing.experiment + (
            " (the experiment run most recently)" if listing.latest else ""
        )
    shown, total = len(listing.runs), listing.total
    runs = "run" if total == 1 else "runs"
    count = f"{total} {runs}" if shown == total else f"{shown} of {total} {runs}"
    return f"{where}: {count}"


def print_runs(listing) -> None:
    from rich.console import Console
    from rich.markup import escape

    from veolab.cli.tables import ID_COLUMN, id_table

    console = Console()
    if not listing.runs:
        console.print(
            escape(_title(listing)) + ("; none match the filters" if listing.total else "")
        )
    else:
        console.print(escape(_title(listing)), highlight=False)
        t = id_table()
        t.add_column("id", **ID_COLUMN)
        t.add_column("variant", no_wrap=True)
        t.add_column("seed", justify="right", no_wrap=True)
        t.add_column("status", no_wrap=True)
        t.add_column("checks", no_wrap=True)
        t.add_column("cost", justify="right", no_wrap=True)
        t.add_column("rating", justify="right", no_wrap=True)
        for r in listing.runs:
            t.add_row(
                r.run_id,
                escape(r.variant or "–"),
                "–" if r.seed is None else str(r.seed),
                _status(r.status),
                _checks(r.checks_passed),
                "–" if r.cost_usd is None else f"${r.cost_usd:.2f}",
                "–" if r.human_score is None else f"{r.human_score:g}",
            )
        console.print(t)
        for v, label in listing.variants.items():
            console.print(f"  {escape(v)}: {escape(label)}", highlight=False)
    if listing.rerun_parents:
        # one id a line: each is a whole id to copy after `veolab runs`
        console.print("reruns of these runs (veolab runs <rerun id> lists one's runs):")
        for parent in listing.rerun_parents:
            console.print(f"  {parent}", highlight=False)


def _status(status: str) -> str:
    return {"failed": "[red]failed[/red]", "running": "[yellow]running[/yellow]"}.get(
        status, status
    )


def _checks(passed: bool | None) -> str:
    return "–" if passed is None else ("passed" if passed else "[red]failed[/red]")
