"""``veolab generate``: the seed's single API call as a command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from veolab.cli.common import handle_errors


@click.command()
@click.option("-p", "--prompt", required=True, help="What the video shows (required).")
@click.option("--negative-prompt", default=None, help="What the video must not show.")
@click.option(
    "--aspect-ratio",
    type=click.Choice(["16:9", "9:16", "4:3", "1:1", "3:4"]),
    default="16:9",
    show_default=True,
    help="4:3, 1:1 and 3:4 on veo-3 models.",
)
@click.option(
    "--duration",
    type=click.Choice(["4", "6", "8"]),
    default="8",
    show_default=True,
    help="Seconds.",
)
@click.option(
    "--resolution",
    type=click.Choice(["720p", "1080p", "4k"]),
    default="1080p",
    show_default=True,
    help="4k where the host offers it.",
)
@click.option(
    "--fps",
    type=click.Choice(["24", "30"]),
    default=None,
    help="Frames per second (default: the host's, 24; 30 on veo-3 models).",
)
@click.option(
    "--audio/--no-audio",
    "generate_audio",
    default=True,
    show_default=True,
    help="Generate a synchronized soundtrack.",
)
@click.option("--image", default=None, help="First frame: URL, data: URI or image file.")
@click.option("--last-frame", default=None, help="Last frame: URL, data: URI or image file.")
@click.option(
    "--reference-image",
    "reference_images",
    multiple=True,
    help="Style/subject reference (repeatable, at most 3).",
)
@click.option("--seed", type=int, default=None, help="0..4294967295; omitted: the host picks one.")
@click.option(
    "--no-veo-rules", is_flag=True, help="Skip Veo's combination rules and the model's limits."
)
@click.option(
    "--provider",
    default="sim",
    show_default=True,
    help="sim (offline), segmind, vertex, fal, replicate, or another installed host.",
)
@click.option(
    "--model",
    default=None,
    help="One of the provider's models (segmind: veo-3.1, the default, veo-3.1-fast, "
    "veo-3.1-lite, veo-3, veo-3-fast; every host's in docs/hosts.md).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the MP4 (default: veolab-<hash>.mp4).",
)
@click.option(
    "--mode",
    type=click.Choice(["queue", "sync"]),
    default="queue",
    show_default=True,
    help="segmind: queue (POST /v2, poll) or sync (POST /v1).",
)
@click.option(
    "--base-url",
    default=None,
    help="The host's API base URL (default: its variable, e.g. $SEGMIND_BASE_URL, or the "
    "host's own address).",
)
@click.option(
    "--api-key",
    default=None,
    help="The host's API key or token (prefer its variable, e.g. $SEGMIND_API_KEY, "
    "$FAL_KEY, $REPLICATE_API_TOKEN: argv is visible to other users).",
)
@click.option(
    "--inline-images/--upload-images",
    default=True,
    show_default=True,
    help="segmind: send local images inline as data URIs, or upload them to "
    "Segmind Storage and send URLs.",
)
@handle_errors
def generate(
    output: Path | None,
    provider: str,
    model: str | None,
    no_veo_rules: bool,
    mode: str,
    base_url: str | None,
    api_key: str | None,
    inline_images: bool,
    **params: object,
) -> None:
    """Make one video from a prompt and write it as an MP4.

    \b
    Example (offline, no key needed):
      veolab generate -p "a red fox running through snow" --resolution 720p --duration 4 --seed 7
    """
    from veolab.runner.single import generate_one

    params["duration"] = int(str(params["duration"]))
    params["fps"] = int(str(params["fps"])) if params["fps"] else None
    params["reference_images"] = list(params["reference_images"])  # type: ignore[call-overload]
    # the host's own flags go to its config only when given: a provider without them (sim)
    # refuses them by name (ConfigError, exit 2)
    ctx = click.get_current_context()
    given = {"mode": mode, "inline_images": inline_images, "base_url": base_url}
    config = {
        k: v
        for k, v in given.items()
        if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT
    }
    if api_key:
        config["api_key"] = api_key
    outcome = asyncio.run(
        generate_one(
            params,
            provider=provider,
            model=model,
            output=output,
            veo_rules=not no_veo_rules,
            config=config,
        )
    )
    click.echo(f"Wrote {outcome.path} ({outcome.size / 1e6:.2f} MB)")
    click.echo(f"seed: {outcome.seed}")
    click.echo(f"request hash: {outcome.request_hash}")
    if outcome.cost is not None:
        click.echo(f"cost: ${outcome.cost:.2f}")
