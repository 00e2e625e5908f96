"""A command that only reads MLflow never creates a store: from the wrong folder it says where
it looked and how to point it at the store, exit 2, and leaves the folder as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli

ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "market-ab"],
        ["report", "market-ab", "-o", "out.html"],
        ["runs", "market-ab"],
        ["runs"],
        ["rate", ID, "4"],
        ["rerun", ID],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_read_from_the_wrong_folder_creates_no_store(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "wrong-folder"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert r.output == (
        "Error: no MLflow store at sqlite:///mlruns/mlflow.db (run veolab run first, or set "
        "MLFLOW_TRACKING_URI or --tracking-uri to your store)\n"
    )
    assert list(folder.iterdir()) == []
