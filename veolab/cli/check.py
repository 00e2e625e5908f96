"""``veolab check FILE``: analyse one MP4 and give a verdict against expectations.

Exit 0 when every check passes, 1 when one fails (with a table of the checks), 2 when the file
cannot be analysed or an option is wrong.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from veolab.cli.common import handle_errors

_SIZE = re.compile(r"^(\d+)x(\d+)$")


def _parse_resolution(value: str | None, aspect: str | None) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    m = _SIZE.match(value)
    if m and int(m.group(1)) and int(m.group(2)):
        return int(m.group(1)), int(m.group(2))
    if value.lower() in ("720p", "1080p", "4k"):
        from veolab.request import expected_geometry

        geo = expected_geometry(value.lower(), aspect or "16:9", 8)
        return geo.width, geo.height
    raise click.BadParameter(
        "use 720p, 1080p, 4k or WIDTHxHEIGHT (e.g. 1280x720)", param_hint="'--resolution'"
    )


def _parse_thresholds(items: tuple[str, ...]) -> Any:
    from veolab.analysis import CheckThresholds

    if not items:
        return CheckThresholds()  # no pydantic to import (issue 11: check starts fast)
    from pydantic import ValidationError

    from veolab.errors import ConfigError
    from veolab.request import format_validation_error

    fields: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--threshold {item!r}: use NAME=VALUE, e.g. max_black_segment=0.25")
        fields[name.strip().replace("-", "_")] = value.strip()
    try:
        return CheckThresholds.parse(fields)
    except ValidationError as exc:
        raise ConfigError(f"--threshold: {format_validation_error(exc)}") from exc


def _summary(res: Any, name: str) -> list[str]:
    p, m = res.probe, res.metrics
    v = p.video
    kinds = p.container.split(",")
    kind = "mp4" if "mp4" in kinds else kinds[0]
    lines = [
        f"{name}: {kind}"
        + (f" ({p.brand})" if p.brand else "")
        + f", {p.size_bytes / 1e6:.2f} MB"
        + (f", encoder {p.encoder}" if p.encoder else "")
    ]
    rate = f"{m.fps:g} fps, " if m.fps else ""
    lines.append(
        f"video: {v.codec} {v.profile or ''} {m.width}x{m.height} {v.pix_fmt or ''}, "
        f"{rate}{m.frame_count} frames, {m.duration_s:.3f} s".replace("  ", " ")
    )
    if p.audio is not None:
        a = p.audio
        lines.append(
            f"audio: {a.codec} {a.profile or ''} {a.sample_rate} Hz "
            f"{a.layout or a.channels}, {m.audio_duration_s or 0:.3f} s".replace("  ", " ")
        )
    else:
        lines.append("audio: none")
    return lines


def _metrics_lines(m: Any) -> list[str]:
    """The measurements in words, wrapped at 80 columns between measurements."""
    lines = _wrap(
        "picture: ",
        [
            f"brightness {m.brightness_mean:.1f}",
            f"colorfulness {m.colorfulness:.1f}",
            f"sharpness {m.sharpness:.1f}",
            f"motion {m.motion:.2f}",
            f"flicker {m.flicker:.2f}",
            f"cuts {m.n_cuts}",
        ],
    )
    if m.audio_duration_s is not None:
        lufs = "-" if m.loudness_lufs is None else f"{m.loudness_lufs:.1f}"
        peak = "-" if m.audio_peak_dbfs is None else f"{m.audio_peak_dbfs:.1f}"
        lines.append(
            f"sound: loudness {lufs} LUFS, peak {peak} dBFS, "
            f"silent {100 * (m.silent_fraction or 0):.0f}%"
        )
    return lines


def _wrap(head: str, parts: list[str], width: int = 80) -> list[str]:
    """``head`` and ``parts`` joined with commas, a new line (indented) where the next part
    would pass ``width``: a measurement and its value stay on one line."""
    lines, line = [], head + parts[0]
    for part in parts[1:]:
        if len(line) + 2 + len(part) > width:
            lines.append(line + ",")
            line = "  " + part
        else:
            line += ", " + part
    return [*lines, line]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _print_report(res: Any, name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    for line in _summary(res, name):
        click.echo(line)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("check", "result", "value", "expected"):
        table.add_column(col)
    for c in res.checks:
        verdict = "[green]PASS[/]" if c.passed else "[bold red]FAIL[/]"
        table.add_row(c.name, verdict, _fmt(c.value), c.expected)
    console = Console(highlight=False, width=None if _is_tty() else 100)
    console.print(table)
    for line in _metrics_lines(res.metrics):
        click.echo(line)
    failed = res.failed_checks
    if failed:
        names = ", ".join(c.name for c in failed)
        click.echo(f"FAILED: {len(failed)} of {len(res.checks)} checks ({names})")
    else:
        click.echo(f"PASSED: all {len(res.checks)} checks")


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Expected seconds (checked within duration_tolerance, 0.1 s); also sets the "
    "expected frame count.",
)
@click.option(
    "--resolution",
    default=None,
    help="720p, 1080p, 4k (with --aspect-ratio, default 16:9) or WIDTHxHEIGHT.",
)
@click.option(
    "--aspect-ratio",
    type=click.Choice(["16:9", "9:16", "4:3", "1:1", "3:4"]),
    default=None,
    help="Expected aspect ratio.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Expected frame rate (Veo's is 24; veo-3 may make 30); 0 skips the check.",
)
@click.option(
    "--audio/--no-audio",
    "audio",
    default=None,
    help="An audio stream must be there (and not silent) / must not be there.",
)
@click.option(
    "--negative-prompt",
    default=None,
    help="The request's negative prompt: excluding black and white requires colour.",
)
@click.option(
    "-t",
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a check setting, e.g. -t max_black_segment=0.25 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "--thumbnails",
    "thumb_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write thumbnails/<name>.jpg and contact_sheet.jpg here.",
)
@click.option(
    "--n-thumbnails",
    type=click.IntRange(0, 100),
    default=8,
    show_default=True,
    help="Evenly spaced thumbnails besides first, middle and last.",
)
@handle_errors
def check(
    file: Path,
    duration: float | None,
    resolution: str | None,
    aspect_ratio: str | None,
    fps: float,
    audio: bool | None,
    negative_prompt: str | None,
    thresholds: tuple[str, ...],
    as_json: bool,
    thumb_dir: Path | None,
    n_thumbnails: int,
) -> None:
    """Analyse FILE (an MP4) and check it against the expected duration, size, frame rate,
    audio, black and frozen spans and colour.

    \b
    Exit codes: 0 every check passed, 1 a check failed, 2 the file cannot be analysed.
    Example:
      veolab check clip.mp4 --duration 8 --resolution 720p --audio
    """
    from veolab.analysis import Expectations, analyze_video

    width, height = _parse_resolution(resolution, aspect_ratio)
    fps_expected = fps or None
    exp = Expectations(
        duration=duration,
        width=width,
        height=height,
        aspect_ratio=aspect_ratio,
        fps=fps_expected,
        frames=round(duration * fps_expected) if duration and fps_expected else None,
        audio=audio,
        negative_prompt=negative_prompt,
    )
    thr = _parse_thresholds(thresholds)
    # one clip a person waits for: FFmpeg's decoder threads whatever the machine's load
    res = analyze_video(
        file, expectations=exp, thresholds=thr, n_thumbnails=n_thumbnails, decoder_threads=0
    )
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
    else:
        _print_report(res, file.name)
    if thumb_dir is not None:
        paths = res.write_images(thumb_dir)
        click.echo(
            f"Wrote {len(paths)} images to {thumb_dir} (contact sheet: "
            f"{thumb_dir / 'contact_sheet.jpg'})",
            err=as_json,
        )
    if not res.passed:
        raise SystemExit(1)
