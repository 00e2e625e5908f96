from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.experiment import load_experiment
from veolab.experiment.schema import derive_seed
from veolab.runner import plan_experiment

REPO = Path(__file__).resolve().parents[2]


def write(tmp: Path, text: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "t.j2").write_text("{{ subject }} under {{ light }} light")
    (tmp / "experiments").mkdir(exist_ok=True)
    p = tmp / "experiments" / "e.yaml"
    p.write_text(text)
    return p


def test_cartesian_product_zip_and_params(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: grid
template: t.j2
vars: {subject: [a fox, a cat], light: [red, blue, green]}
zip: {camera: [wide, close], lens: [24mm, 85mm]}
params: {resolution: 720p, duration: [4, 6]}
seeds: [5, 6]
""",
    )
    (tmp_path / "prompts" / "t.j2").write_text(
        "{{ subject }} under {{ light }} light, {{ camera }} {{ lens }}"
    )
    plan = plan_experiment(load_experiment(p))
    assert len(plan.runs) == 2 * 3 * 2 * 2 * 2  # subject x light x zip rows x duration x seeds
    assert len({r.variant_id for r in plan.runs}) == 2 * 3 * 2 * 2
    first = plan.runs[0]
    assert first.prompt == "a fox under red light, wide 24mm"
    assert plan.runs[4].prompt == "a fox under red light, close 85mm"
    assert first.swept == {
        "subject": "a fox",
        "light": "red",
        "camera": "wide",
        "lens": "24mm",
        "duration": 4,
    }
    assert first.variant_label == "subject=a fox, light=red, camera=wide, lens=24mm, duration=4"
    assert [r.seed for r in plan.runs[:2]] == [5, 6]
    assert len({r.request_hash for r in plan.runs}) == len(plan.runs)


def test_duplicate_requests_are_an_error(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: dup
template: t.j2
vars: {subject: a fox, light: red, unused: [1, 2]}
params: {resolution: 720p, duration: 4}
seeds: [1]
""",
    )
    with pytest.raises(Exception, match=r"runs 0 and 1 are the same request \(unused=2, seed 1\)"):
        plan_experiment(load_experiment(p))


def test_variants_override_and_ids_exclude_seed(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: v
template: t.j2
vars: {subject: a fox, light: white}
variants:
  - {name: warm, vars: {light: golden}}
  - {name: cool, vars: {light: blue}, params: {generate_audio: false}}
params: {resolution: 720p, duration: 4}
repeats: 3
base_seed: 42
""",
    )
    plan = plan_experiment(load_experiment(p))
    assert [r.variant_name for r in plan.runs] == ["warm"] * 3 + ["cool"] * 3
    assert plan.runs[0].prompt == "a fox under golden light"
    assert plan.runs[3].request.generate_audio is False
    assert plan.runs[0].variant_label == "warm, light=golden, generate_audio=true"
    assert len({r.variant_id for r in plan.runs[:3]}) == 1
    assert plan.runs[0].variant_id != plan.runs[3].variant_id
    assert [r.seed for r in plan.runs[:3]] == [derive_seed(42, i) for i in range(3)]
    # stable: the same file gives the same plan every time
    again = plan_experiment(load_experiment(p))
    assert [(r.variant_id, r.seed, r.request_hash) for r in again.runs] == [
        (r.variant_id, r.seed, r.request_hash) for r in plan.runs
    ]


def test_derive_seed_is_stable_and_in_range() -> None:
    assert derive_seed(0, 0) == derive_seed(0, 0)
    seeds = {derive_seed(7, i) for i in range(100)}
    assert len(seeds) == 100
    assert all(0 <= s <= 4294967295 for s in seeds)


def test_image_paths_are_relative_to_the_experiment_file(tmp_path: Path, make_png) -> None:
    p = write(
        tmp_path,
        """
name: img
template: t.j2
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4, image: [../a.png, ../b.png]}
seeds: [1]
""",
    )
    make_png("a.png", (255, 0, 0))
    make_png("b.png", (0, 0, 255))
    plan = plan_experiment(load_experiment(p))
    assert [r.request.image.value for r in plan.runs] == [
        str(tmp_path / "experiments/../a.png"),
        str(tmp_path / "experiments/../b.png"),
    ]
    assert plan.runs[0].request_hash != plan.runs[1].request_hash


def test_reference_images_list_is_one_value_list_of_lists_sweeps(tmp_path: Path, make_png) -> None:
    make_png("a.png", (255, 0, 0))
    make_png("b.png", (0, 0, 255))
    one = write(
        tmp_path,
        """
name: r
template: t.j2
vars: {subject: a fox, light: red}
params: {reference_images: [../a.png, ../b.png]}
seeds: [1]
""",
    )
    assert len(plan_experiment(load_experiment(one)).runs) == 1
    sweep = write(
        tmp_path,
        """
name: r
template: t.j2
vars: {subject: a fox, light: red}
params: {reference_images: [[../a.png], [../a.png, ../b.png]]}
seeds: [1]
""",
    )
    runs = plan_experiment(load_experiment(sweep)).runs
    assert [len(r.request.reference_images) for r in runs] == [1, 2]


def test_paid_provider_costs_and_overridden_prices(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: paid
template: t.j2
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: [4, 8], generate_audio: [true, false]}
seeds: [1]
provider: {name: segmind, model: veo-3.1}
prices: {veo-3.1: {audio: 0.5, no_audio: 0.25}}
""",
    )
    plan = plan_experiment(load_experiment(p))
    assert [r.estimated_cost for r in plan.runs] == [2.0, 1.0, 4.0, 2.0]
    assert plan.paid is True
    assert plan.estimated_spend() == 9.0
    sim = plan_experiment(load_experiment(p), provider="sim")
    assert sim.estimated_spend() == 0.0 and sim.paid is False


def test_the_plan_prices_with_the_providers_own_table(tmp_path: Path, monkeypatch) -> None:
    from veolab.providers.segmind import SegmindProvider

    p = write(
        tmp_path,
        """
name: own-prices
template: t.j2
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4, generate_audio: [true, false]}
seeds: [1]
provider: {name: segmind, model: veo-3.1-fast}
""",
    )
    assert [r.estimated_cost for r in plan_experiment(load_experiment(p)).runs] == [0.6, 0.4]
    # one price path: the capability table the provider declares is the one the plan uses
    rows = dict(SegmindProvider.capabilities)
    rows["veo-3.1-fast"] = replace(rows["veo-3.1-fast"], usd_per_second={"audio": 3, "no_audio": 2})
    monkeypatch.setattr(SegmindProvider, "capabilities", rows)
    plan = plan_experiment(load_experiment(p))
    assert [r.estimated_cost for r in plan.runs] == [12.0, 8.0]
    assert plan.seconds_per_run == 99.0  # segmind's typical time for veo-3.1-fast
    req = plan.runs[0].request
    assert SegmindProvider.price(req, "veo-3.1-fast") == 12.0
    assert SegmindProvider.price(req, "veo-3.1", {"veo-3.1": {"audio": 0.5, "no_audio": 0}}) == 2.0


def test_the_sim_plans_its_latency_and_is_free(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: slow-sim
template: t.j2
vars: {subject: a fox, light: red}
params: {resolution: 720p, duration: 4}
seeds: [1, 2]
provider: {name: sim, latency: 2.5}
prices: {veo-3.1: {audio: 9, no_audio: 9}}
""",
    )
    plan = plan_experiment(load_experiment(p))
    assert (plan.paid, plan.estimated_spend(), plan.seconds_per_run) == (False, 0.0, 3.5)
    assert plan.model == "veo-3.1"  # the provider's first model when the file names none


def test_the_experiment_stage_imports_no_provider_and_no_analysis() -> None:
    code = (
        "import sys, veolab.experiment; "
        "print(sorted(m for m in sys.modules if m.startswith(('veolab.providers', "
        "'veolab.analysis', 'veolab.runner'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plan_cli_json_and_table() -> None:
    r = CliRunner().invoke(cli, ["plan", str(REPO / "experiments" / "quickstart.yaml"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["experiment"] == "quickstart"
    assert [(x["label"], x["seed"], x["status"]) for x in data["runs"]] == [
        ("lighting=bright sunny morning light", 1, "new"),
        ("lighting=bright sunny morning light", 2, "new"),
        ("lighting=dark moonlit night", 1, "new"),
        ("lighting=dark moonlit night", 2, "new"),
    ]
    assert data["totals"]["runs"] == 4 and data["totals"]["estimated_spend"] == 0.0
    keynote = CliRunner().invoke(
        cli, ["plan", str(REPO / "experiments" / "keynote-lighting.yaml"), "--json"]
    )
    assert keynote.exit_code == 0, keynote.output
    k = json.loads(keynote.stdout)
    assert k["totals"]["to_pay"] == 6 and k["totals"]["estimated_spend"] == 19.2
    assert {x["label"] for x in k["runs"]} == {
        "warm, lighting=warm golden key light from the …",
        "cool, lighting=cool blue rim light with dark s…",
    }


def test_ten_thousand_run_grid_plans(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
name: big
template: t.j2
vars: {subject: [a, b, c, d, e, f, g, h, i, j], light: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
params: {resolution: 720p, duration: 4}
repeats: 100
""",
    )
    plan = plan_experiment(load_experiment(p))
    assert len(plan.runs) == 10_000
    assert len({r.request_hash for r in plan.runs}) == 10_000
