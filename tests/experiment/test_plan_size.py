"""The plan's size is known before it is expanded; grids above max_runs are refused at once.

Also the experiment-file inputs that used to slip through: duplicated YAML keys, empty axes and
booleans where whole numbers belong.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.errors import ExperimentError
from veolab.experiment import load_experiment
from veolab.experiment.plan import grid_size
from veolab.runner import plan_experiment


def write(tmp: Path, text: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "t.j2").write_text("{{ a }} {{ b }} {{ c }} {{ d }}")
    path = tmp / "e.yaml"
    path.write_text(text)
    return path


def values(n: int) -> str:
    return "[" + ", ".join(str(i) for i in range(n)) + "]"


MIXED = """
name: mixed
template: t.j2
vars: {a: [1, 2, 3], b: x}
zip: {c: [p, q], d: [r, s]}
variants:
  - {name: one}
  - {name: two, vars: {b: [y, z]}, params: {duration: [4, 6]}}
  - {name: three, vars: {c: solo}}
params: {resolution: 720p, duration: 4, reference_images: [], negative_prompt: [blur, noise]}
seeds: [1, 2]
"""


def test_grid_size_is_the_expanded_plan_size(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, MIXED))
    n, axes = grid_size(exp)
    # one: a 3 * zip 2 * negative_prompt 2; two: also b 2 and duration 2; three: c is overridden,
    # the zip keeps d's 2 rows; every run twice (seeds)
    assert n == (12 + 48 + 12) * 2
    assert n == len(plan_experiment(exp).runs)
    assert axes == [  # largest first; equal lengths in the file's order, variants and seeds last
        ("var.a", 3),
        ("variants", 3),
        ("var.b", 2),
        ("zip", 2),
        ("param.duration", 2),
        ("param.negative_prompt", 2),
        ("seeds", 2),
    ]


def test_a_billion_run_grid_is_refused_before_anything_is_expanded(tmp_path: Path) -> None:
    # `c` and `d` are undefined: rendering even one prompt would fail with another error, so this
    # message proves nothing was rendered or expanded before the size was checked
    path = write(
        tmp_path,
        f"name: huge\ntemplate: t.j2\nvars: {{a: {values(1000)}, b: {values(1000)}}}\n"
        f"seeds: {values(1000)}\n",
    )
    with pytest.raises(ExperimentError) as exc:
        plan_experiment(load_experiment(path))
    assert str(exc.value) == (
        f"{path}: the grid makes 1,000,000,000 runs, more than max_runs 10,000: largest axes "
        "var.a 1,000, var.b 1,000, seeds 1,000; raise max_runs or --max-runs, or shrink the grid"
    )


def test_max_runs_from_the_file_and_the_command_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: m\nprompt: '{{ a }}'\nvars: {a: [x, y, z]}\nparams: {resolution: 720p, "
        "duration: [4, 6]}\nrepeats: 2\nmax_runs: 11\n",
    )
    refused = CliRunner().invoke(cli, ["plan", str(path)])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: {path.resolve()}: the grid makes 12 runs, more than max_runs 11: largest axes "
        "var.a 3, param.duration 2, seeds 2; raise max_runs or --max-runs, or shrink the grid\n"
    )
    allowed = CliRunner().invoke(cli, ["plan", "--max-runs", "12", "--json", str(path)])
    assert allowed.exit_code == 0, allowed.output
    assert '"runs": 12' in allowed.stdout
    lower = CliRunner().invoke(cli, ["run", "--max-runs", "5", str(path)])
    assert lower.exit_code == 2
    assert "the grid makes 12 runs, more than max_runs 5:" in lower.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()
    for bad in ("0", "-3", "many"):
        r = CliRunner().invoke(cli, ["plan", "--max-runs", bad, str(path)], prog_name="veolab")
        assert r.exit_code == 2
        assert r.stderr.startswith("Error: Invalid value for '--max-runs': ")
        assert r.stderr.endswith(" (see 'veolab plan --help')\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nprompt: x\nname: b\n", "line 3: key 'name' appears twice (first on line 1)"),
        (
            "name: a\nprompt: x\nparams: {duration: 4, duration: 8}\n",
            "line 3: key 'duration' appears twice (first on line 3)",
        ),
        (
            "name: a\nprompt: x\nvariants:\n  - name: v\n    vars: {a: 1}\n    name: w\n",
            "line 6: key 'name' appears twice (first on line 4)",
        ),
    ],
)
def test_duplicated_keys_are_refused_with_the_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(ExperimentError) as exc:
        load_experiment(path)
    assert str(exc.value) == f"{path}: {expected}: keep one of them"


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "name: a\nprompt: fox\nparams:\n  <<: {resolution: 1080p, duration: 8}\n"
        "  resolution: 720p\n  duration: 4\n"
    )
    assert load_experiment(path).params == {"resolution": "720p", "duration": 4}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("seeds: [true]", "seeds.0: give a whole number (got True)"),
        ("seeds: [1, false]", "seeds.1: give a whole number (got False)"),
        ("repeats: true", "repeats: give a whole number (got True)"),
        ("base_seed: true\nrepeats: 2", "base_seed: give a whole number (got True)"),
        ("concurrency: true", "concurrency: give a whole number (got True)"),
        ("max_runs: true", "max_runs: give a whole number (got True)"),
        ("max_runs: 0", "max_runs: Input should be greater than or equal to 1"),
    ],
)
def test_booleans_are_not_numbers(tmp_path: Path, field: str, expected: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"name: a\nprompt: fox\n{field}\n")
    with pytest.raises(ExperimentError) as exc:
        load_experiment(path)
    assert str(exc.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            "vars: {x: []}",
            "vars: x is an empty list, which makes no runs: give at least one "
            "value or remove vars.x",
        ),
        (
            "params: {duration: []}",
            "params: duration is an empty list, which makes no runs: give "
            "at least one value or remove params.duration",
        ),
        (
            "variants: [{name: v, vars: {x: []}}]",
            "variants.0.vars: x is an empty list, which "
            "makes no runs: give at least one value or remove vars.x",
        ),
    ],
)
def test_empty_axes_are_refused_by_name(tmp_path: Path, field: str, expected: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"name: a\nprompt: '{{{{ x }}}}'\n{field}\n")
    with pytest.raises(ExperimentError) as exc:
        load_experiment(path)
    assert str(exc.value) == f"{path}: {expected}"


def test_no_reference_images_is_one_value_not_an_empty_axis(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("name: a\nprompt: fox\nparams: {reference_images: []}\n")
    plan = plan_experiment(load_experiment(path))
    assert [r.request.reference_images for r in plan.runs] == [[]]
