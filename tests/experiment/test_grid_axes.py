"""Hosts and models as grid axes (issue 14): ``provider:`` and ``model:`` lists, variants that
pin them, per-(host, model) validation of every cell and prices from each host's table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.errors import ExperimentError
from veolab.experiment import load_experiment
from veolab.experiment.plan import grid_size
from veolab.runner import plan_experiment
from veolab.runner.status import run_key

REF = "https://example.com/ref.png"


def write(tmp: Path, text: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "t.j2").write_text("{{ subject }} under {{ light }} light")
    (tmp / "experiments").mkdir(exist_ok=True)
    p = tmp / "experiments" / "e.yaml"
    p.write_text("name: axes\ntemplate: t.j2\nseeds: [1, 2]\n" + text)
    return p


def plan_of(tmp: Path, text: str, **kw):
    return plan_experiment(load_experiment(write(tmp, text)), **kw)


def test_a_model_list_doubles_the_runs(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        """
vars: {subject: a fox, light: [red, blue]}
params: {resolution: 720p, duration: 4}
model: [veo-3.1, veo-3.1-fast]
""",
    )
    assert len(plan.runs) == 2 * 2 * 2  # light x model x seeds
    assert grid_size(plan.experiment)[0] == len(plan.runs)
    assert [(r.model, r.swept, r.seed) for r in plan.runs[:4]] == [
        ("veo-3.1", {"model": "veo-3.1", "light": "red"}, 1),
        ("veo-3.1", {"model": "veo-3.1", "light": "red"}, 2),
        ("veo-3.1-fast", {"model": "veo-3.1-fast", "light": "red"}, 1),
        ("veo-3.1-fast", {"model": "veo-3.1-fast", "light": "red"}, 2),
    ]
    assert {r.provider for r in plan.runs} == {"sim"}
    assert plan.runs[2].variant_label == "model=veo-3.1-fast, light=red"
    assert plan.runs[2].short_label == "veo-3.1-fast·red"
    # the same request on two models: one request hash, two variants, two purchases
    same = [r for r in plan.runs if r.swept["light"] == "red" and r.seed == 1]
    assert len({r.request_hash for r in same}) == 1
    assert len({r.variant_id for r in same}) == 2
    assert len({run_key(r.provider, r.model, r.request_hash) for r in same}) == 2
    assert plan.hosts() == [("sim", "veo-3.1"), ("sim", "veo-3.1-fast")]
    assert plan.describe_hosts() == "sim (veo-3.1, veo-3.1-fast)"


def test_hosts_times_models_each_priced_from_its_own_table(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        """
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4, generate_audio: false}
provider: [sim, {name: segmind, mode: sync}]
model: [veo-3.1, veo-3.1-fast, veo-3.1-lite]
""",
    )
    cells = [(r.provider, r.model, r.estimated_cost) for r in plan.runs if r.seed == 1]
    assert cells == [
        ("sim", "veo-3.1", 0.0),
        ("sim", "veo-3.1-fast", 0.0),
        ("sim", "veo-3.1-lite", 0.0),
        ("segmind", "veo-3.1", 0.8),  # 4 s x $0.20
        ("segmind", "veo-3.1-fast", 0.4),  # 4 s x $0.10
        ("segmind", "veo-3.1-lite", 0.25),  # 4 s x $0.0625
    ]
    assert plan.paid
    assert plan.estimated_spend() == 2.9  # two seeds of $0.80 + $0.40 + $0.25
    segmind = plan.target(plan.runs[-1])
    assert segmind is not None and segmind.settings is not None
    assert segmind.settings.model_extra == {"mode": "sync"}
    assert plan.runs[-1].variant_label == "provider=segmind, model=veo-3.1-lite"


def test_a_variant_pins_its_host_and_model(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        """
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4}
provider: {name: segmind, mode: sync}
model: veo-3.1
variants:
  - {name: full}
  - {name: cheap, model: [veo-3.1-fast, veo-3.1-lite]}
  - {name: offline, provider: sim}
""",
    )
    got = sorted({(r.variant_name, r.provider, r.model) for r in plan.runs})
    assert got == [
        ("cheap", "segmind", "veo-3.1-fast"),
        ("cheap", "segmind", "veo-3.1-lite"),
        ("full", "segmind", "veo-3.1"),
        ("offline", "sim", "veo-3.1"),
    ]
    assert len(plan.runs) == 4 * 2
    assert grid_size(plan.experiment)[0] == len(plan.runs)


UNSERVABLE = f"""
vars: {{subject: a fox, light: [red, blue]}}
params: {{resolution: 1080p, duration: 8, reference_images: [[], ["{REF}"]]}}
model: [veo-3.1, veo-3.1-lite]
"""


def test_every_cell_a_host_cannot_serve_is_listed(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError) as info:
        plan_of(tmp_path, UNSERVABLE)
    lines = str(info.value).splitlines()
    assert lines[0].endswith(
        "experiments/e.yaml: 2 grid cells cannot be made by their host "
        "(--skip-unsupported drops them):"
    )
    assert lines[1:] == [
        '  model=veo-3.1-lite, light=red, reference_images=["https://example.com/ref.png"]: '
        "reference_images not offered by sim veo-3.1-lite",
        '  model=veo-3.1-lite, light=blue, reference_images=["https://example.com/ref.png"]: '
        "reference_images not offered by sim veo-3.1-lite",
    ]


def test_skip_unsupported_drops_them_and_says_so(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, UNSERVABLE, skip_unsupported=True)
    assert len(plan.runs) == (2 * 2 * 2 - 2) * 2  # light x refs x model, less 2 cells; seeds
    assert [(u.model, u.runs) for u in plan.unsupported] == [("veo-3.1-lite", 2)] * 2
    assert not any(r.model == "veo-3.1-lite" and r.request.reference_images for r in plan.runs)
    assert [r.index for r in plan.runs] == list(range(len(plan.runs)))


def test_a_grid_with_no_cell_left_is_refused_even_skipping(tmp_path: Path) -> None:
    text = (
        "vars: {subject: a, light: b}\nparams: {resolution: 720p, aspect_ratio: '4:3', fps: 30}\n"
    )
    with pytest.raises(ExperimentError, match="no cell is left to run") as info:
        plan_of(tmp_path, text, skip_unsupported=True)
    assert str(info.value).splitlines()[1:] == [
        "  default on sim veo-3.1: aspect_ratio 4:3 not offered by sim veo-3.1 (16:9, 9:16); "
        "fps 30 not offered by sim veo-3.1 (24)"
    ]
    # veo-3 takes 30 fps and 4:3: the same file on it plans
    plan = plan_of(tmp_path, text + "model: veo-3\n")
    assert plan.runs[0].request.geometry()[:3] == (960, 720, 30)


def test_veo_rules_off_sends_what_the_row_refuses(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, UNSERVABLE + "veo_rules: false\n")
    assert len(plan.runs) == 2 * 2 * 2 * 2


def test_prices_override_a_model_on_every_host_that_serves_it(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        """
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4, generate_audio: false}
provider: {name: segmind}
model: [veo-3.1, veo-3.1-fast]
prices: {veo-3.1-fast: {audio: 1.0, no_audio: 0.5}}
""",
    )
    assert [(r.model, r.estimated_cost) for r in plan.runs if r.seed == 1] == [
        ("veo-3.1", 0.8),
        ("veo-3.1-fast", 2.0),
    ]


def test_provider_and_model_flags_replace_the_axes(tmp_path: Path) -> None:
    text = """
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4}
provider: [sim, {name: segmind, mode: sync}]
model: [veo-3.1, veo-3.1-fast]
variants: [{name: a}, {name: b, vars: {light: blue}, provider: sim, model: veo-3}]
"""
    plan = plan_of(tmp_path, text, provider="segmind", model="veo-3.1-fast")
    assert {(r.provider, r.model) for r in plan.runs} == {("segmind", "veo-3.1-fast")}
    target = plan.target(plan.runs[0])
    assert target is not None and target.settings is not None
    assert target.settings.model_extra == {"mode": "sync"}  # the file's block of segmind
    plan = plan_of(tmp_path, text, model="veo-3")
    assert {(r.provider, r.model) for r in plan.runs} == {("sim", "veo-3"), ("segmind", "veo-3")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: []\n", "model: model is an empty list, which makes no runs"),
        ("model: [veo-3.1, veo-3.1]\n", "model: models repeat: list each model once"),
        ("provider: []\n", "provider: provider is an empty list"),
        ("provider: [sim, sim]\n", "provider: providers repeat"),
        ("provider: [sim, 3]\n", "provider: 1: give a provider name or a mapping"),
        (
            "provider: {name: sim, model: veo-3.1}\nmodel: veo-3.1-fast\n",
            "model is given both at the top level and in provider: keep it in one place",
        ),
        (
            "provider: [sim, {name: segmind, api_key: x}]\n",
            "provider: 1: api_key: an API key never goes",
        ),
        ("model: veo-9\n", "provider.model: Input should be 'veo-3.1', 'veo-3.1-fast'"),
        (
            "provider: [sim, {name: segmind, mode: fast}]\n",
            "provider.mode: Input should be 'queue' or 'sync' (got 'fast')",
        ),
        (
            "variants: [{name: a, provider: nope}]\n",
            "unknown provider 'nope': choose one of",
        ),
    ],
)
def test_bad_axes_are_one_error_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, "vars: {subject: a, light: b}\nparams: {resolution: 720p, duration: 4}\n")
    p.write_text(p.read_text() + text)
    with pytest.raises(Exception) as info:
        plan_experiment(load_experiment(p))
    assert message in str(info.value)
    assert getattr(info.value, "exit_code", None) == 2


def test_plan_cli_lists_hosts_and_exits_2_on_unsupported_cells(tmp_path: Path) -> None:
    p = write(tmp_path, UNSERVABLE)
    runner = CliRunner()
    r = runner.invoke(cli, ["plan", str(p)], prog_name="veolab")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 3  # the error's line, then one line per cell
    assert "reference_images not offered by sim veo-3.1-lite" in r.stderr
    r = runner.invoke(cli, ["plan", str(p), "--skip-unsupported", "--json"], prog_name="veolab")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == (
        "skipped 2 grid cells (4 runs) their host cannot make (--skip-unsupported):"
    )
    data = json.loads(r.stdout)
    assert [(h["provider"], h["model"], h["runs"]) for h in data["totals"]["hosts"]] == [
        ("sim", "veo-3.1", 8),
        ("sim", "veo-3.1-lite", 4),
    ]
    assert [u["problems"] for u in data["totals"]["unsupported"]] == [
        ["reference_images not offered by sim veo-3.1-lite"]
    ] * 2
    assert {(x["provider"], x["model"]) for x in data["runs"]} == {
        ("sim", "veo-3.1"),
        ("sim", "veo-3.1-lite"),
    }


def test_a_model_another_host_serves_is_a_cell_this_host_cannot_make(tmp_path: Path) -> None:
    text = """
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4}
provider: [sim, replicate]
model: [veo-3.1, veo-3.1-lite]
"""
    with pytest.raises(ExperimentError) as info:
        plan_of(tmp_path, text)
    assert str(info.value).splitlines()[1:] == [
        "  provider=replicate, model=veo-3.1-lite: veo-3.1-lite not served by replicate "
        "(veo-3.1, veo-3.1-fast, veo-3, veo-3-fast)"
    ]
    plan = plan_of(tmp_path, text, skip_unsupported=True)
    assert [(r.provider, r.model) for r in plan.runs if r.seed == 1] == [
        ("sim", "veo-3.1"),
        ("sim", "veo-3.1-lite"),
        ("replicate", "veo-3.1"),
    ]
    # a model no installed host serves is a typo, said by the provider
    with pytest.raises(ExperimentError, match="provider.model: Input should be"):
        plan_of(tmp_path, text.replace("veo-3.1-lite", "veo-3.2"), skip_unsupported=True)
