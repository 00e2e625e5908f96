"""``veolab compare``, ``veolab report``, ``veolab rerun`` and ``veolab rate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from veolab.cli.common import handle_errors
from veolab.errors import AbortedError

TRACKING_HELP = "MLflow store (default: MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."


def _compare(
    experiment: str,
    tracking_uri: str | None,
    all_sweeps: bool,
    by: str,
    metrics: tuple[str, ...],
    baseline: str | None,
):
    from veolab.compare import compare_runs, load_runs
    from veolab.tracking.store import existing_store

    tracker = existing_store(tracking_uri)
    table = load_runs(experiment, tracker=tracker, all_sweeps=all_sweeps)
    result = compare_runs(table, by=by, metrics=list(metrics) or None, baseline=baseline)
    return tracker, table, result


def _compare_options(f):
    f = click.option(
        "--baseline",
        default=None,
        help="Group to compare the others with (label, value or variant id); default the first.",
    )(f)
    f = click.option(
        "--metric",
        "metrics",
        multiple=True,
        help="Metric to summarise (repeatable); default colorfulness, motion, "
        "sharpness, brightness, loudness, latency, cost, human and repro scores.",
    )(f)
    f = click.option(
        "--by",
        default="variant",
        show_default=True,
        help="Group by variant, by host or model (provider, model) or by a swept key: "
        "var.<name>, resolution, ...",
    )(f)
    f = click.option(
        "--all-sweeps",
        is_flag=True,
        help="Keep every run, also requests run again in later sweeps.",
    )(f)
    f = click.option("--tracking-uri", default=None, help=TRACKING_HELP)(f)
    return f


@click.command()
@click.argument("experiment")
@_compare_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per group.")
@handle_errors
def compare(
    experiment: str,
    tracking_uri: str | None,
    all_sweeps: bool,
    by: str,
    metrics: tuple[str, ...],
    baseline: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Compare the variants of EXPERIMENT (a name, or a sweep's parent run id).

    Per group: runs, failures, check pass rate and each metric's mean with a 95% confidence
    interval; each group against the baseline: the difference with a bootstrap interval and,
    over the seeds both ran, a signed-rank test.
    """
    if as_json and as_csv:
        from veolab.errors import ConfigError

        raise ConfigError("--json and --csv: choose one")
    _, _, result = _compare(experiment, tracking_uri, all_sweeps, by, metrics, baseline)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif as_csv:
        click.echo(result.to_csv(), nl=False)
    else:
        from veolab.compare.render import print_result

        print_result(result)


@click.command()
@click.argument("experiment")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file; media go in <name>_files/ beside it.",
)
@_compare_options
@click.option(
    "--layout",
    type=click.Choice(["auto", "columns", "grid"]),
    default="auto",
    show_default=True,
    help="Per seed: a column per group, or a grid when the groups cross two variables "
    "(auto: the grid where it fits).",
)
@click.option("--no-log", is_flag=True, help="Do not log the report to the sweep's MLflow run.")
@handle_errors
def report(
    experiment: str,
    output: Path,
    tracking_uri: str | None,
    all_sweeps: bool,
    by: str,
    metrics: tuple[str, ...],
    baseline: str | None,
    layout: str,
    no_log: bool,
) -> None:
    """Write a side-by-side HTML report of EXPERIMENT's variants (videos, stills, verdicts)."""
    from veolab.report import write_report

    tracker, table, result = _compare(experiment, tracking_uri, all_sweeps, by, metrics, baseline)
    info = write_report(
        table, output, result=result, tracker=tracker, log_to_mlflow=not no_log, layout=layout
    )
    for w in info.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(
        f"Wrote {info.path} ({len(result.groups)} groups, {len(table)} runs, "
        f"{info.videos} videos) and {info.files_dir}/"
    )
    if info.logged_to:
        click.echo(f"Logged to MLflow sweep run {info.logged_to} under report/")


@click.command()
@click.argument("run_id")
@click.option("--seed", type=int, default=None, help="Use this seed instead of the run's.")
@click.option(
    "--times",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="How many times to reissue the request.",
)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@click.option(
    "--api-key",
    default=None,
    help="Provider key (default: the provider's variable, e.g. SEGMIND_API_KEY).",
)
@click.option("--base-url", default=None, help="Override the provider's base URL.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before paying.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@handle_errors
def rerun(
    run_id: str,
    seed: int | None,
    times: int,
    tracking_uri: str | None,
    api_key: str | None,
    base_url: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Reissue the request RUN_ID logged and measure how reproducible it is.

    RUN_ID is a generation run's id or a unique prefix of it (at least 4 characters; veolab runs
    lists them). Never served from the cache: every rerun is a new generation, paid on a paid
    provider.
    """
    from veolab.runner.rerun import execute_rerun, plan_rerun
    from veolab.tracking.store import existing_store

    tracker = existing_store(tracking_uri)
    plan = plan_rerun(
        run_id, seed=seed, times=times, tracker=tracker, api_key=api_key, base_url=base_url
    )
    seed_text = (
        f"seed {plan.request.seed} (was {plan.original_seed})"
        if plan.seed_changed
        else f"seed {plan.request.seed}"
    )
    cost_text = (
        f"{times} x ${plan.cost_each:.2f} = ${plan.total_cost:.2f} (estimate)"
        if plan.paid
        else "$0.00 (free provider)"
    )
    click.echo(
        f"Rerun of {plan.original_run_id} ({plan.run_name}) on {plan.provider} {plan.model}, "
        f"{seed_text}: {cost_text}",
        err=True,
    )
    if plan.seed_warning:
        click.echo(f"Warning: {plan.seed_warning}", err=True)
    if plan.paid and plan.total_cost > 0 and not yes:
        msg = f"Pay about ${plan.total_cost:.2f} for {times} new generation(s)?"
        if not sys.stdin.isatty() or not click.confirm(msg, default=False, err=True):
            raise AbortedError(
                f"not confirmed: the rerun would cost about ${plan.total_cost:.2f}; "
                "pass --yes to run without asking"
            )
    result = execute_rerun(plan, tracker=tracker, on_event=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "original_run_id": plan.original_run_id,
                    "parent_run_id": result.parent_run_id,
                    "spend": result.spend,
                    "reruns": [
                        {
                            "run_id": r.run_id,
                            "seed": r.seed,
                            "cost": r.cost,
                            "error": r.error,
                            "checks_passed": r.checks_passed,
                            "repro": r.repro.to_dict() if r.repro else None,
                        }
                        for r in result.reruns
                    ],
                },
                indent=2,
            )
        )
    else:
        _print_reruns(plan, result)
    sys.exit(result.exit_code)


def _print_reruns(plan, result) -> None:
    """One row per rerun, its new run id whole (to copy into rate, runs or the MLflow UI);
    errors under the table, where they have room."""
    from rich.console import Console
    from rich.markup import escape

    from veolab.cli.tables import ID_COLUMN, id_table

    t = id_table()
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("run", **ID_COLUMN)
    for col in ("seed", "repro\nscore", "PSNR\ndB", "SSIM", "same\nframes", "audio\ncorr"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("checks", no_wrap=True)
    errors = []
    for r in result.reruns:
        m = r.repro
        if r.error:
            t.add_row(
                str(r.index + 1), r.run_id or "–", str(r.seed), *["–"] * 5, "[red]error[/red]"
            )
            errors.append(f"rerun {r.index + 1}: [red]{escape(r.error)}[/red]")
            continue
        t.add_row(
            str(r.index + 1),
            r.run_id,
            str(r.seed),
            f"{m.repro_score:.3f}" if m else "–",
            f"{m.psnr_db:.1f}" if m else "–",
            f"{m.ssim:.4f}" if m else "–",
            f"{m.identical_frames:.0%}" if m else "–",
            "–" if not m or m.audio_corr is None else f"{m.audio_corr:.3f}",
            "passed" if r.checks_passed else "failed",
        )
    console = Console()
    console.print(f"reproducibility against {plan.original_run_id}", highlight=False)
    console.print(t)
    for line in errors:
        console.print(line)
    if not plan.has_video:
        click.echo("note: the original run has no video, so reproducibility was not measured")
    click.echo(
        f"MLflow rerun parent {result.parent_run_id}; spend ${result.spend:.2f}; "
        f"{result.wall:.1f} s"
    )


@click.command()
@click.argument("run_id")
@click.argument("score", type=float)
@click.option("--note", "-n", default=None, help="A note to keep with the score.")
@click.option(
    "--reviewer", default=None, help="Who rates (default: your user name); MLflow shows it."
)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@handle_errors
def rate(
    run_id: str, score: float, note: str | None, reviewer: str | None, tracking_uri: str | None
) -> None:
    """Give the generation RUN_ID a human SCORE from 1 to 5 (and an optional --note).

    RUN_ID is the run's id or a unique prefix of it (at least 4 characters; veolab runs lists them).
    """
    from veolab.tracking.rating import check_score
    from veolab.tracking.rating import rate as rate_run
    from veolab.tracking.store import existing_store

    check_score(score)  # before opening the store
    r = rate_run(run_id, score, note, tracker=existing_store(tracking_uri), reviewer=reviewer)
    again = f" (rating {r.ratings}; the latest counts)" if r.ratings > 1 else ""
    click.echo(f"Rated {r.run_id}: {r.score:g}/5{again}" + (f" - {r.note}" if r.note else ""))
