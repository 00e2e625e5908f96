"""The CLI starts fast: ``veolab --help`` imports neither mlflow nor cv2 nor av.

Each check runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("mlflow", "cv2", "av")

PROBE = """
import sys
from click.testing import CliRunner
from veolab.cli import cli
result = CliRunner().invoke(cli, {args!r}, prog_name="veolab")
assert result.exit_code == 0, result.output
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""


def imported_after(args: list[str]) -> list[str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return eval(proc.stdout.strip().splitlines()[-1])  # a list literal we printed


def test_help_imports_no_heavy_library() -> None:
    assert imported_after(["--help"]) == []


@pytest.mark.parametrize(
    "command",
    ["generate", "check", "plan", "run", "ui", "runs", "compare", "report", "rerun", "rate", "sim"],
)
def test_subcommand_help_imports_no_heavy_library(command: str) -> None:
    assert imported_after([command, "--help"]) == []


def test_console_script_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "veolab", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert "generate  Make one video from a prompt." in proc.stdout
    assert (
        "Exit codes: 0 ok, 1 a check or a run failed, 2 bad input or configuration, "
        "3 provider or network failure."
    ) in " ".join(proc.stdout.split())


def test_version() -> None:
    from importlib.metadata import version

    proc = subprocess.run(
        [sys.executable, "-m", "veolab", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout == f"veolab, version {version('veolab')}\n"
