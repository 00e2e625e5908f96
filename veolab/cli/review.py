"""``veolab review``: blind pairwise review of an experiment's videos in the browser."""

from __future__ import annotations

import json

import click

from veolab.cli.common import handle_errors

TRACKING_HELP = "MLflow store (default: MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."


@click.command()
@click.argument("experiment")
@click.option(
    "--by",
    default="variant",
    show_default=True,
    help="Groups to compare: variant, var.<name>, model, or any key compare takes.",
)
@click.option(
    "--include-failed", is_flag=True, help="Also show generations that failed their checks."
)
@click.option("--reviewer", default=None, help="Your name (else the page asks for it).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but loopback requires a token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--token",
    default=None,
    help="Require this token on every request (default: one is made for a non-loopback --host).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option("--no-log", is_flag=True, help="Do not log the review to MLflow at shutdown.")
@click.option("--ranking", "show_ranking", is_flag=True, help="Print the ranking; serve nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --ranking: print it as JSON.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@handle_errors
def review(
    experiment: str,
    by: str,
    include_failed: bool,
    reviewer: str | None,
    host: str,
    port: int,
    token: str | None,
    open_browser: bool,
    no_log: bool,
    show_ranking: bool,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """Review EXPERIMENT's videos blind, two at a time, in the browser (Ctrl-C stops it).

    Each vote is stored in the ledger the moment it is cast; at shutdown the review is logged
    to MLflow (a Bradley-Terry ranking of the groups with bootstrap intervals). With
    --ranking, print that ranking and exit.
    """
    from veolab.errors import ConfigError

    if as_json and not show_ranking:
        raise ConfigError("--json goes with --ranking (the server answers JSON at /api/ranking)")
    if show_ranking:
        from veolab.review.session import ranking_of

        payload = ranking_of(experiment, by=by, tracking_uri=tracking_uri)
        if as_json:
            click.echo(json.dumps(payload, indent=2))
        else:
            from veolab.review.render import print_ranking

            print_ranking(payload)
        return
    if reviewer is not None:
        from veolab.review.votes import check_reviewer

        reviewer = check_reviewer(reviewer)
    if token is not None and not token.strip():
        raise ConfigError("--token is empty: give a token, or leave it out")
    _serve(
        experiment,
        by,
        include_failed,
        reviewer,
        host,
        port,
        token,
        open_browser,
        no_log,
        tracking_uri,
    )


def _serve(
    experiment: str,
    by: str,
    include_failed: bool,
    reviewer: str | None,
    host: str,
    port: int,
    token: str | None,
    open_browser: bool,
    no_log: bool,
    tracking_uri: str | None,
) -> None:
    from veolab.review.serve import ReviewServer, serve_forever
    from veolab.review.session import ReviewSession

    session = ReviewSession.open(
        experiment, by=by, include_failed=include_failed, tracking_uri=tracking_uri
    )
    try:
        server = ReviewServer(session, host=host, port=port, token=token, reviewer=reviewer)
        before = len(session.votes())

        def ready() -> None:
            groups = len(session.plan.groups)
            click.echo(
                f"Reviewing {session.experiment}: {len(session.generations)} generations in "
                f"{groups} groups by {by}, {len(session.plan.all_pairs)} pairs, {before} votes "
                "so far",
                err=True,
            )
            click.echo(server.url)
            click.echo("Ctrl-C stops the server (the votes are already saved)", err=True)
            if open_browser:
                import webbrowser

                if not webbrowser.open(server.url):
                    click.echo(f"could not open a browser: open {server.url} yourself", err=True)

        serve_forever(server, on_ready=ready)
        votes = len(session.votes())
        click.echo(
            f"Stopped: {votes} vote{'s' if votes != 1 else ''} on {session.experiment} "
            f"({votes - before} new)",
            err=True,
        )
        if not no_log and votes:
            click.echo("Logging the review to MLflow ...", err=True)
            from veolab.review.mlflow_log import log_review

            run_id = log_review(session)
            if run_id:
                click.echo(f"Logged the review to MLflow run {run_id}", err=True)
    finally:
        session.close()
