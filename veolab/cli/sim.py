"""``veolab sim``: the offline simulator; ``veolab sim serve`` runs a local Segmind."""

from __future__ import annotations

import os
import sys

import click

from veolab.cli.common import handle_errors


@click.group()
def sim() -> None:
    """The offline Veo simulator."""


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--api-key",
    envvar="VEOLAB_SIM_API_KEY",
    default=None,
    help="Require this x-api-key (else 401). Env: VEOLAB_SIM_API_KEY.",
)
@click.option(
    "--credits",
    type=click.FloatRange(min=0),
    default=None,
    help="Starting balance in USD; each job is billed per second (default: unlimited).",
)
@click.option(
    "--insufficient-status",
    type=click.Choice(["406", "402"]),
    default="406",
    show_default=True,
    help="Status of the insufficient-credits error.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds each job spends PROCESSING (the render runs meanwhile).",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="+/- fraction of --latency, per job.",
)
@click.option(
    "--queue-time",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds each queued (v2) job spends QUEUED.",
)
@click.option(
    "--rate-limit",
    default=None,
    metavar="N/min",
    help="Submits allowed per window (e.g. 10/min, 2/s, 5/10s); past it: 429.",
)
@click.option(
    "--retry-after/--no-retry-after",
    default=False,
    show_default=True,
    help="Also send Retry-After on 429 (Segmind sends x-rate-limit-reset-at-utc only).",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Probability of a random 500/502/504 or dropped connection per API call.",
)
@click.option(
    "--fault-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the random faults (same seed, same faults).",
)
@click.option(
    "--sync-output",
    type=click.Choice(["bytes", "url", "base64"]),
    default="bytes",
    show_default=True,
    help="Shape of a /v1 success: MP4 body, JSON URL or base64.",
)
@click.option(
    "--veo-rules/--no-veo-rules",
    default=True,
    show_default=True,
    help="Reject (422) what Veo 3.1's documented rules forbid.",
)
@click.option(
    "--render-workers",
    type=click.IntRange(min=0),
    default=None,
    help="Render in this many processes (default: one per CPU); 0: threads in the server "
    "process (renders then mostly run one at a time).",
)
@click.option(
    "--prerendered",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Answer from N pre-rendered clips per format (resolution, aspect ratio, duration, "
    "audio), each rendered once on first use and picked by request hash; latency, credits, "
    "faults and the ledger are unchanged. For benchmarks of a client: the server then spends "
    "almost no CPU. 0: render every job (its content follows the prompt).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--tls",
    is_flag=True,
    default=False,
    help="Serve https with a self-signed certificate for 127.0.0.1 and localhost, kept in "
    "$VEOLAB_HOME/sim-tls (clients trust it with SSL_CERT_FILE, printed at start); for "
    "clients that only speak https, like fal-client.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve https with this certificate (PEM; with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The private key of --tls-cert (PEM).",
)
@handle_errors
def serve(
    rate_limit: str | None,
    insufficient_status: str,
    tls: bool,
    tls_cert: str | None,
    tls_key: str | None,
    **options: object,
) -> None:
    """Serve the hosts' protocols on a local port, backed by the simulator.

    \b
    Example:
      veolab sim serve --port 8765 --api-key test --credits 10 --latency 5
      SEGMIND_BASE_URL=http://127.0.0.1:8765 SEGMIND_API_KEY=test \\
        veolab generate --provider segmind -p "a red fox" --resolution 720p --duration 4
    """
    from veolab.errors import ConfigError
    from veolab.simserver import SimServerConfig, parse_rate, serve_forever

    if tls and (tls_cert or tls_key):
        raise ConfigError("use --tls (a self-signed certificate) or --tls-cert/--tls-key, not both")
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("--tls-cert needs --tls-key (and the other way round)")
    trust = ""
    if tls:
        from veolab.simserver.tls import self_signed

        files = self_signed()
        tls_cert, tls_key = str(files.cert), str(files.key)
        trust = f"export SSL_CERT_FILE={files.bundle}"
    options |= {"tls_cert": tls_cert, "tls_key": tls_key}

    if options.get("render_workers") is None:
        options["render_workers"] = os.cpu_count() or 1
    settings = dict(
        options,
        insufficient_status=int(insufficient_status),
        retry_after_header=options.pop("retry_after"),
    )
    if rate_limit:
        settings["rate_limit"], settings["rate_window"] = parse_rate(rate_limit)
    config = SimServerConfig.model_validate(settings)

    def announce(line: str) -> None:
        click.echo(line)
        if trust:
            port = line.rsplit(":", 1)[-1]
            click.echo(
                f"TLS: a self-signed certificate; trust it with: {trust}\n"
                f"fal-client: export FAL_QUEUE_RUN_HOST=127.0.0.1:{port}"
            )
        sys.stdout.flush()  # a parent process waits for this line

    try:
        serve_forever(config, announce=announce)
    except OSError as exc:
        from veolab.errors import ConfigError

        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}; choose another --port"
        ) from exc
