"""`veolab compare` and `veolab report` read anywhere: at 60, 80, 120 and 200 columns and piped,
with 2 groups (the session's sweep) and 4 (a 2 x 2 sweep of long labels, 2 seeds each: too few
runs for a verdict); the Python API takes an experiment name as the CLI does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from helpers import BRIGHT, DARK, NAME

from veolab.cli import cli

MARKET = "market-ab"
MARKET_EXPERIMENT = f"""\
name: {MARKET}
template: market.j2
vars:
  weather: [bright sunny daylight, dark moonlit night]
  camera: [drone, handheld gimbal]
params: {{resolution: 720p, duration: 4}}
seeds: [1, 2]
provider: {{name: sim}}
concurrency: 2
"""
MARKET_LABELS = [
    "weather=bright sunny daylight, camera=drone",
    "weather=bright sunny daylight, camera=handheld gimbal",
    "weather=dark moonlit night, camera=drone",
    "weather=dark moonlit night, camera=handheld gimbal",
]
WIDTHS = (60, 80, 120, 200)


@dataclass
class Market:
    uri: str
    parent_id: str


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    """4 variants (weather x camera) x 2 seeds on the simulator, logged once for this module."""
    from veolab.experiment import load_experiment
    from veolab.runner import RunOptions, plan_experiment, run_plan

    root = tmp_path_factory.mktemp("market")
    (root / "prompts").mkdir()
    (root / "prompts" / "market.j2").write_text(
        "a street market at noon, {{ weather }}, filmed from a {{ camera }}\n"
    )
    (root / "market.yaml").write_text(MARKET_EXPERIMENT)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = {"VEOLAB_HOME": str(root / "home"), "MLFLOW_TRACKING_URI": uri}
    with mock.patch.dict(os.environ, env):
        plan = plan_experiment(load_experiment(root / "market.yaml"))
        result = run_plan(plan, RunOptions(tracking_uri=uri))
    assert result.counts["failed"] == 0, result.outcomes
    return Market(uri, result.parent_run_id)


def _compare(width: int | None, *args: str) -> str:
    env = {"COLUMNS": str(width)} if width else {}
    r = CliRunner(env=env).invoke(cli, ["compare", *args])
    assert r.exit_code == 0, r.output
    return r.output


def _json(*args: str) -> dict:
    return json.loads(_compare(200, *args, "--json"))


def _check_readable(out: str, d: dict, width: int) -> list[str]:
    """Every line fits; no word is spelled down a column; every metric name, interval and
    verdict is whole on one line, each verdict on its metric's line. Returns the lines."""
    from veolab.compare.render import fmt

    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= width
    # what 908 lines of one-character columns looked like
    assert not [ln for ln in lines if len(ln.split()) == 1 and len(ln.strip()) <= 2]
    words = {w for ln in lines for w in re.split(r"[\s,]+", ln)}
    for m in d["metrics"]:
        assert m in words, m
    for g in d["groups"]:
        for m, s in g["metrics"].items():
            if s["lo"] is not None:
                interval = f"[{fmt(s['lo'])}, {fmt(s['hi'])}]"
                assert any(interval in ln for ln in lines), (g["label"], m, interval)
    verdicts = {"too few runs": "inconclusive"}
    expected = Counter((a["metric"], verdicts.get(a["verdict"], a["verdict"])) for a in d["ab"])
    shown: Counter = Counter()
    for ln in lines:
        for metric, verdict in expected:
            if re.search(rf"(^|\s){metric}\s.*\s{re.escape(verdict)}$", ln):
                shown[(metric, verdict)] += 1
    assert shown == expected
    return lines


@pytest.mark.parametrize("width", WIDTHS)
def test_four_groups_read_at_every_width(market, width):
    d = _json(MARKET, "--tracking-uri", market.uri)
    assert [g["label"] for g in d["groups"]] == MARKET_LABELS
    out = _compare(width, MARKET, "--tracking-uri", market.uri)
    lines = _check_readable(out, d, width)
    # rows of content: a count or metric per group table row, the groups, the A/B rows
    rows = 4 + len(d["metrics"]) + len(d["groups"]) + len(d["ab"])
    assert len(d["ab"]) == 3 * len(d["metrics"])
    assert len(lines) <= 3 * rows
    if width >= 200:
        assert len(lines) <= rows + 12  # wide enough for one line per row
    assert lines[0] == f"{MARKET}: 4 groups by variant"
    # long labels become keys with a legend, said once
    assert lines[1:5] == [
        f"A = {MARKET_LABELS[0]} (baseline)",
        f"B = {MARKET_LABELS[1]}",
        f"C = {MARKET_LABELS[2]}",
        f"D = {MARKET_LABELS[3]}",
    ]
    assert sum(label in out for label in MARKET_LABELS) == 4
    assert all(out.count(label) == 1 for label in MARKET_LABELS[1:])


@pytest.mark.parametrize("width", WIDTHS)
def test_two_groups_read_at_every_width(sweep, width):
    d = _json(NAME, "--tracking-uri", sweep.uri)
    out = _compare(width, NAME, "--tracking-uri", sweep.uri)
    lines = _check_readable(out, d, width)
    rows = 4 + len(d["metrics"]) + 2 + len(d["ab"])
    assert len(lines) <= 3 * rows
    assert lines[0] == f"{NAME}: 2 groups by variant"
    if width >= 120:  # the labels fit as column headers: no legend
        assert f"{BRIGHT} (baseline)" in out and "A = " not in out
        assert f"A/B: {DARK} vs {BRIGHT}" in out
        assert len(lines) <= rows + 12


def test_by_a_swept_key_keeps_the_metric_column_and_the_verdicts(market):
    """--by var.weather at 80 columns lost its metric column and cut "no clear differenc"."""
    args = (MARKET, "--tracking-uri", market.uri, "--by", "var.weather")
    d = _json(*args)
    assert {a["verdict"] for a in d["ab"]} <= {"no clear difference", "higher", "lower"}
    out = _compare(80, *args)
    lines = _check_readable(out, d, 80)
    assert lines[0] == f"{MARKET}: 2 groups by var.weather"
    # the groups are named by their values: the title says which key
    header = next(ln for ln in lines if "(baseline)" in ln)
    assert "bright sunny daylight (baseline)" in header and "dark moonlit night" in header
    assert "A/B: dark moonlit night vs bright sunny daylight" in lines
    assert "brightness_mean" in words_of(lines)


def words_of(lines: list[str]) -> set[str]:
    return {w for ln in lines for w in ln.split()}


@pytest.mark.slow
def test_piped_output_is_80_columns_plain_text(market):
    """A pipe (CI logs, | less, > file) gets 80 columns, no colour codes, no trailing spaces,
    the same text as COLUMNS=80."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    cmd = [sys.executable, "-m", "veolab", "compare", MARKET, "--tracking-uri", market.uri]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == _compare(80, MARKET, "--tracking-uri", market.uri)
    lines = p.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    assert "\x1b[" not in p.stdout
    assert not [ln for ln in lines if ln != ln.rstrip()]


def test_too_few_runs_is_said_once_and_the_differences_still_shown(market):
    d = _json(MARKET, "--tracking-uri", market.uri)
    assert len(d["ab"]) == 21
    for a in d["ab"]:
        assert a["verdict"] == "too few runs"  # the JSON contract keeps its verdicts
        assert a["inconclusive"] == (
            "n=2 vs n=2: at least 3 runs a group are needed for a verdict; add seeds"
        )
        assert a["diff"] is not None and a["diff_lo"] is not None
    out = _compare(200, MARKET, "--tracking-uri", market.uri)
    assert "too few runs" not in out
    rows = [ln for ln in out.splitlines() if not ln.startswith("note:")]
    assert sum(ln.endswith(" inconclusive") for ln in rows) == 21
    notes = [ln for ln in out.splitlines() if ln.startswith("note:")]
    assert notes == [
        "note: fewer than 3 successful runs in A, B, C, D: the intervals are wide and no verdict "
        "is given; add seeds",
        "note: B, C, D vs A: n=2 vs n=2, fewer than 3 runs a group: no verdict, the differences "
        "are shown as inconclusive",
    ]


def test_verdicts_with_enough_runs_have_no_inconclusive_field(sweep):
    d = _json(NAME, "--tracking-uri", sweep.uri)
    assert {a["inconclusive"] for a in d["ab"]} == {None}
    assert "inconclusive" not in _compare(80, NAME, "--tracking-uri", sweep.uri)


def test_report_says_too_few_runs_once_per_comparison(market, tmp_path):
    from veolab.report import write_report

    info = write_report(MARKET, tmp_path / "r.html", tracking_uri=market.uri, log_to_mlflow=False)
    html = info.path.read_text()
    assert (info.videos, info.logged_to) == (8, None)
    section = html[html.index('<section id="verdicts">') : html.index('<section id="variants">')]
    assert section.count('class="muted small inconclusive-note"') == 3
    assert (
        section.count(
            "n=2 vs n=2, fewer than 3 runs a group: no verdict, so the differences below are "
            "inconclusive; add seeds"
        )
        == 3
    )
    # the differences, marked, instead of 21 "too few runs" pills
    assert section.count('<span class="badge inconclusive"') == 21
    assert "too few runs" not in section.replace("too few runs for a verdict", "")
    assert re.search(r'badge inconclusive"[^>]*>brightness_mean [-+]?[\d.]+ \[', section)
    ab = html[html.index('<section id="ab">') :]
    assert ab.count('<td class="v-inconclusive" title="n=2 vs n=2: at least 3 runs') == 21


def test_python_api_takes_an_experiment_name_or_a_table(market, tmp_path):
    from veolab.compare import compare_runs, load_runs
    from veolab.report import write_report
    from veolab.tracking.store import Tracker

    by_name = compare_runs(MARKET, tracking_uri=market.uri, by="var.camera")
    by_table = compare_runs(load_runs(MARKET, tracker=Tracker(market.uri)), by="var.camera")
    assert by_name.to_dict() == by_table.to_dict()
    assert [g.label for g in by_name.groups] == ["var.camera=drone", "var.camera=handheld gimbal"]
    by_sweep = compare_runs(market.parent_id, tracking_uri=market.uri)
    assert by_sweep.sweep_ids == [market.parent_id]
    # write_report("market-py", "out/py.html") was AttributeError: 'str' object has no attribute
    out = tmp_path / "out" / "py.html"
    info = write_report(
        MARKET, out, tracking_uri=market.uri, by="var.weather", metrics=["brightness"]
    )
    html = out.read_text()
    assert (info.path, info.videos, info.logged_to) == (out, 8, market.parent_id)
    assert "<th>brightness_mean</th>" in html and "<th>motion</th>" not in html
    assert "<h3>var.weather=dark moonlit night</h3>" in html


def test_python_api_bad_targets(market, tmp_path):
    from veolab.compare import compare_runs
    from veolab.errors import ConfigError
    from veolab.report import write_report

    out = tmp_path / "nope.html"
    with pytest.raises(ConfigError) as exc:
        write_report("nope", out, tracking_uri=market.uri)
    assert str(exc.value).startswith(
        "no experiment or sweep run named 'nope'; experiments in " + market.uri
    )
    assert not out.exists() and not (tmp_path / "nope_files").exists()
    with pytest.raises(TypeError) as type_exc:
        compare_runs(Path("market-ab"), tracking_uri=market.uri)  # type: ignore[arg-type]
    assert str(type_exc.value) == (
        "expected an experiment name, a sweep's run id or a RunTable "
        "(veolab.compare.load_runs), not PosixPath"
    )


def test_labels_print_as_written_and_many_seeds_as_ranges():
    """A label is text, not rich markup; 12 seeds read as a range. A made-up run table."""
    import pandas as pd

    from veolab.compare import RunTable, compare_runs
    from veolab.compare.render import result_text

    labels = ["style=[bold]loud[/bold]", "style=:smile: [red]"]
    rows = [
        {
            "run_id": f"{v}-{s}",
            "parent_id": "sweep1",
            "status": "FINISHED",
            "start_time": s,
            "variant": f"v{v}",
            "label": label,
            "name": None,
            "seed": s,
            "request_hash": f"h{v}-{s}",
            "rerun_of": None,
            "failed": False,
            "checks_passed": True,
            "metrics.motion": s * (v + 1.0),
        }
        for v, label in enumerate(labels)
        for s in [*range(1, 12), 20]
    ]
    result = compare_runs(RunTable("made-up", "1", pd.DataFrame(rows), ["sweep1"]))
    text = result_text(result, width=80)
    assert f"{labels[1]} (baseline)" in text and labels[0] in text  # sorted: ":" before "["
    assert [ln.split() for ln in text.splitlines() if ln.startswith("seeds")] == [
        ["seeds", "1-11,20", "1-11,20"]
    ]
    assert re.search(r"^motion +-7.17 \[-13.50, -1.50\] .* lower$", text, re.M)


def test_a_verdict_is_coloured_by_which_way_is_better():
    """Cheaper is better, a lower human score worse, more motion only different."""
    import pandas as pd

    from veolab.compare import RunTable, compare_runs
    from veolab.compare.render import _verdict_cell
    from veolab.report.build import _verdict_kind

    rows = [
        {
            "run_id": f"{v}-{s}",
            "parent_id": "sweep1",
            "status": "FINISHED",
            "start_time": s,
            "variant": f"v{v}",
            "label": f"model={('veo-3.1', 'veo-3.1-fast')[v]}",
            "name": None,
            "seed": s,
            "request_hash": f"h{v}-{s}",
            "rerun_of": None,
            "failed": False,
            "checks_passed": True,
            "metrics.cost_usd": 3.2 - 1.6 * v + s * 0.001,
            "metrics.human_score": 4.0 + s % 2 - 2 * v,
            "metrics.motion": s * 0.01 + v,
            "metrics.brightness_mean": 100.0 + s,
        }
        for v in (0, 1)
        for s in range(1, 9)
    ]
    table = RunTable("made-up", "1", pd.DataFrame(rows), ["sweep1"])
    result = compare_runs(table, metrics=["cost_usd", "human_score", "motion", "brightness_mean"])
    ab = {a.metric: a for a in result.ab}
    assert [ab[m].verdict for m in ("cost_usd", "human_score", "motion")] == [
        "lower",
        "lower",
        "higher",
    ]
    assert ab["brightness_mean"].verdict == "no clear difference"
    assert {m: _verdict_kind(a) for m, a in ab.items()} == {
        "cost_usd": "better",
        "human_score": "worse",
        "motion": "different",
        "brightness_mean": "same",
    }
    assert {m: str(_verdict_cell(a).style) for m, a in ab.items()} == {
        "cost_usd": "green",
        "human_score": "red",
        "motion": "bold",
        "brightness_mean": "",
    }
