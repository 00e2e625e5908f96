"""The ``veolab`` command: a thin layer over the library.

Commands live in their own modules and are imported only when invoked, so ``veolab --help``
never imports mlflow, cv2 or av. Each command turns a :class:`veolab.errors.VeolabError` into a
one-line message and its exit code (0 ok, 1 a check or run failed, 2 bad input, 3 provider).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from veolab import __version__

# command name -> "module:attribute"; the module is imported on first use only
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("veolab.cli.generate:generate", "Make one video from a prompt."),
    "sim": ("veolab.cli.sim:sim", "The offline Veo simulator (sim serve: a local Segmind)."),
    "check": ("veolab.cli.check:check", "Analyse one MP4 and check it against expectations."),
    "plan": ("veolab.cli.plan:plan", "Show every run of an experiment, its status and cost."),
    "run": ("veolab.cli.run:run", "Run an experiment: generate, analyse, log to MLflow."),
    "ui": ("veolab.cli.ui:ui", "Start the MLflow UI on veolab's tracking store."),
    "runs": ("veolab.cli.runs:runs", "List an experiment's runs: ids, status, checks, cost."),
    "compare": ("veolab.cli.compare:compare", "Compare the variants of an experiment."),
    "report": ("veolab.cli.compare:report", "Write a side-by-side HTML report."),
    "rerun": ("veolab.cli.compare:rerun", "Reissue a logged request and measure reproducibility."),
    "rate": ("veolab.cli.compare:rate", "Give a run a human score from 1 to 5."),
    "review": ("veolab.cli.review:review", "Review videos blind in pairs; rank the groups."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (target, _) in COMMANDS.items() if _exists(target)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _exists(entry[0]):
            return None
        module, attr = entry[0].split(":")
        return getattr(importlib.import_module(module), attr)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        """Like click's, but a usage error is one line (what is wrong, where help is), exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "veolab"
            click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exists(target: str) -> bool:
    module = target.split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="veolab")
def cli() -> None:
    """veolab: prompt experiments for Google's Veo 3.1 on Segmind, tracked in MLflow.

    Exit codes: 0 ok, 1 a check or a run failed, 2 bad input or configuration,
    3 provider or network failure.
    """


# Thread pools of NumPy's OpenBLAS and of OpenCV, one thread each unless the user says otherwise:
# OpenBLAS's idle threads spin for about 0.1 s of CPU when NumPy loads, and OpenCV's after each
# parallel resize, taking that CPU from FFmpeg's decoder threads (veolab check: 2.79 -> 2.64 CPU
# seconds for an 8 s 1080p clip on 2 cores). veolab's own matrices are too small for either pool.
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


# Commands that leave nothing behind once their output is written (no threads, no temporary
# files, no MLflow run): their process ends without the interpreter's teardown, which frees every
# module and object one by one (about 0.05 s of `veolab check`, where a person waits for it).
NO_TEARDOWN = frozenset({"check"})


def main() -> None:
    for name, value in SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    try:
        cli()
    except SystemExit as exc:
        if sys.argv[1:2] and sys.argv[1] in NO_TEARDOWN:
            _exit_now(exc.code)
        raise


def _exit_now(code: object) -> None:
    """End the process as ``SystemExit(code)`` would, after flushing, but with no teardown."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: what the normal exit would meet too
        code = code or 1
    os._exit(code or 0)
