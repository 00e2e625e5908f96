"""`veolab plan --prompts`: the exact text each variant sends, marked against the baseline
variant ([+inserted+] / [-deleted-] through a pipe, colours on a terminal), readable at 80
columns; `plan --json` carries every run's prompt and negative prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import invoke, plan_json

from veolab.cli import cli

EXPERIMENT = """\
name: fox-prompts
template: q.j2
vars:
  subject: a red fox
params: {resolution: 720p, duration: 4, negative_prompt: blurry}
variants:
  - name: day
    vars: {lighting: bright sunny morning light}
  - name: night
    vars: {lighting: dark moonlit night}
    params: {negative_prompt: "blurry, text overlays"}
  - name: wolf
    vars: {lighting: bright sunny morning light, subject: a grey wolf}
seeds: [1, 2, 3]
provider: {name: sim}
"""
TEMPLATE = "{{ subject }} walking along a blue shoreline, {{ lighting }}, gentle waves\n"
FOX_DAY = "a red fox walking along a blue shoreline, bright sunny morning light, gentle waves"
FOX_NIGHT = "a red fox walking along a blue shoreline, dark moonlit night, gentle waves"
WOLF_DAY = "a grey wolf walking along a blue shoreline, bright sunny morning light, gentle waves"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "q.j2").write_text(TEMPLATE)
    path = tmp_path / "e.yaml"
    path.write_text(EXPERIMENT)
    return path


def variant_ids(path: Path) -> dict[str, str]:
    return {r["label"].split(",")[0]: r["variant"] for r in plan_json(path)["runs"]}


def test_prompts_through_a_pipe_are_marked_in_brackets(project):
    v = variant_ids(project)
    r = invoke("plan", str(project), "--prompts")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "fox-prompts: 9 runs, 3 variants on sim (veo-3.1); [+inserted+] and [-deleted-] words "
        f"against the baseline {v['day']}",
        "",
        f"{v['day']} day, subject=a red fox, lighting=bright sunny morning light, "
        "negative_prompt=blurry (baseline)",
        "  seeds     1, 2, 3 (est. $0.00; new 3)",
        f"  prompt    {FOX_DAY}",
        "  negative  blurry",
        "",
        f"{v['night']} night, subject=a red fox, lighting=dark moonlit night, "
        "negative_prompt=blurry, text overlays",
        "  seeds     1, 2, 3 (est. $0.00; new 3)",
        "  prompt    a red fox walking along a blue shoreline, [-bright sunny morning light,-] "
        "[+dark moonlit night,+] gentle waves",
        "  negative  [-blurry-] [+blurry, text overlays+]",
        "",
        f"{v['wolf']} wolf, subject=a grey wolf, lighting=bright sunny morning light, "
        "negative_prompt=blurry",
        "  seeds     1, 2, 3 (est. $0.00; new 3)",
        "  prompt    a [-red fox-] [+grey wolf+] walking along a blue shoreline, bright sunny "
        "morning light, gentle waves",
        "  negative  blurry",
        "",
        "runs 9: new 9, already done 0, from store 0, resume 0, unknown 0 | to pay 0, "
        "estimated $0.00, about 3 s",
    ]


def test_prompts_at_80_columns_wrap_under_their_field(project):
    r = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["plan", str(project), "--prompts"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert all(line == line.rstrip() for line in lines[:-2])  # no padding to copy along
    night = lines.index(
        "  prompt    a red fox walking along a blue shoreline, [-bright sunny morning"
    )
    assert lines[night + 1] == "            light,-] [+dark moonlit night,+] gentle waves"


def test_prompts_on_a_terminal_are_coloured(project):
    env = {"COLUMNS": "200", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    r = CliRunner(env=env).invoke(cli, ["plan", str(project), "--prompts"])
    assert r.exit_code == 0, r.output
    assert "[+" not in r.output and "[-" not in r.output
    assert "inserted words in green, deleted ones struck through in red" in r.output
    assert "a \x1b[9;31mred fox\x1b[0m \x1b[1;32mgrey wolf\x1b[0m walking along" in r.output
    assert f"prompt    {FOX_DAY}\n" in r.output  # the baseline as it is


def test_no_color_on_a_terminal_keeps_the_brackets(project):
    env = {"COLUMNS": "200", "FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": "1"}
    r = CliRunner(env=env).invoke(cli, ["plan", str(project), "--prompts"])
    assert "a [-red fox-] [+grey wolf+] walking along" in r.output


def test_another_baseline(project):
    v = variant_ids(project)
    r = invoke("plan", str(project), "--prompts", "--baseline", "night")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].endswith(f"against the baseline {v['night']}")
    assert lines[7].endswith("negative_prompt=blurry, text overlays (baseline)")
    assert lines[9:11] == [f"  prompt    {FOX_NIGHT}", "  negative  blurry, text overlays"]
    assert lines[4:6] == [
        "  prompt    a red fox walking along a blue shoreline, [-dark moonlit night,-] "
        "[+bright sunny morning light,+] gentle waves",
        "  negative  [-blurry, text overlays-] [+blurry+]",
    ]
    by_id = invoke("plan", str(project), "--prompts", "--baseline", v["night"])
    assert by_id.output == r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--prompts", "--baseline", "dusk"],
            "Error: --baseline 'dusk' is no variant of this plan: give an id, name or label (",
        ),
        (["--baseline", "night"], "Error: --baseline marks prompts: pass it with --prompts\n"),
    ],
)
def test_bad_baseline_exits_2(project, args, message):
    r = invoke("plan", str(project), *args)
    assert (r.exit_code, r.output.count("\n")) == (2, 1), r.output
    assert r.output.startswith(message)


def test_plan_json_carries_every_prompt(project):
    runs = plan_json(project)["runs"]
    got = [(r["label"].split(",")[0], r["seed"], r["prompt"], r["negative_prompt"]) for r in runs]
    assert got == [
        *[("day", s, FOX_DAY, "blurry") for s in (1, 2, 3)],
        *[("night", s, FOX_NIGHT, "blurry, text overlays") for s in (1, 2, 3)],
        *[("wolf", s, WOLF_DAY, "blurry") for s in (1, 2, 3)],
    ]
    r = invoke("plan", str(project), "--prompts", "--json")
    assert [x["prompt"] for x in json.loads(r.output)["runs"]] == [x[2] for x in got]


def test_prompts_show_what_is_done(sweep):
    r = invoke("plan", str(sweep.root / "exp.yaml"), "--prompts", "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    seeds = [line for line in r.output.splitlines() if line.startswith("  seeds")]
    assert seeds == ["  seeds     1, 2, 3 (est. $0.00; done 3)"] * 2
