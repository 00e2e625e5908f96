"""Grouping, summaries and A/B of `veolab compare` on a made-up run table with known answers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from veolab.compare.render import result_text
from veolab.compare.runs import RunTable
from veolab.compare.table import compare_runs
from veolab.errors import ConfigError


def _row(
    label: str,
    variant: str,
    seed: int,
    motion: float | None,
    *,
    failed: bool = False,
    checks: bool | None = True,
    human: float | None = None,
) -> dict:
    row = {
        "run_id": f"{variant}-{seed}",
        "parent_id": "sweep1",
        "status": "FAILED" if failed else "FINISHED",
        "start_time": seed,
        "variant": variant,
        "label": label,
        "name": None,
        "seed": seed,
        "request_hash": f"h-{variant}-{seed}",
        "rerun_of": None,
        "failed": failed,
        "checks_passed": None if failed else checks,
        "params.var.lighting": label.split("=")[1],
        "params.resolution": "720p",
    }
    if motion is not None:
        row["metrics.motion"] = motion
    if human is not None:
        row["metrics.human_score"] = human
    return row


@pytest.fixture
def table() -> RunTable:
    rows = []
    for s in range(1, 7):
        rows.append(_row("lighting=night", "bbb", s, s + 0.5, checks=s != 4))
        rows.append(_row("lighting=day", "aaa", s, float(s), human=4.0 if s <= 2 else None))
    rows.append(_row("lighting=night", "bbb", 7, None, failed=True))
    return RunTable("made-up", "1", pd.DataFrame(rows), ["sweep1"])


def test_groups_counts_and_intervals(table):
    r = compare_runs(table)
    assert [g.label for g in r.groups] == ["lighting=day", "lighting=night"]
    assert r.baseline == "lighting=day"
    assert r.metrics == ["motion", "human_score"]
    day, night = r.groups
    assert (day.runs, day.failures, day.checks_passed, day.checks_total) == (6, 0, 6, 6)
    assert (night.runs, night.failures, night.checks_passed, night.checks_total) == (7, 1, 5, 6)
    assert night.seeds == [1, 2, 3, 4, 5, 6, 7]
    assert night.check_pass_rate == pytest.approx(5 / 6)
    assert (day.summaries["motion"].n, day.summaries["motion"].mean) == (6, 3.5)
    assert (night.summaries["motion"].n, night.summaries["motion"].mean) == (6, 4.0)
    assert (day.summaries["human_score"].n, day.summaries["human_score"].mean) == (2, 4.0)
    assert night.summaries["human_score"].n == 0


def test_ab_pairs_by_seed_and_skips_one_sided_metrics(table):
    r = compare_runs(table)
    assert len(r.ab) == 1  # no human score on the night side: no A/B of it
    ab = r.ab[0]
    assert (ab.metric, ab.group, ab.baseline) == ("motion", "lighting=night", "lighting=day")
    assert ab.unpaired.diff == pytest.approx(0.5)
    assert ab.unpaired.lo < 0 < ab.unpaired.hi  # unpaired, 0.5 is lost in the spread of 1..6
    assert ab.paired.n_pairs == 6
    assert ab.paired.p_value == pytest.approx(0.03125)  # 6 of 6 seeds up: 2 / 2**6
    assert (ab.verdict, ab.method) == ("higher", "paired")


def test_baseline_by_label_value_or_variant_id(table):
    assert compare_runs(table, baseline="lighting=night").baseline == "lighting=night"
    assert compare_runs(table, baseline="bbb").baseline == "lighting=night"
    r = compare_runs(table, baseline="lighting=night")
    assert r.ab[0].verdict == "lower"
    with pytest.raises(ConfigError) as exc:
        compare_runs(table, baseline="dusk")
    assert str(exc.value) == (
        "--baseline 'dusk' names no group: choose one of 'lighting=day', 'lighting=night'"
    )


def test_group_by_a_swept_key(table):
    r = compare_runs(table, by="var.lighting", baseline="night")
    assert [g.label for g in r.groups] == ["var.lighting=day", "var.lighting=night"]
    assert r.baseline == "var.lighting=night"
    one = compare_runs(table, by="resolution")
    assert [g.label for g in one.groups] == ["resolution=720p"]
    assert one.ab == []
    assert one.notes == ["only one group: nothing to compare (is --by the key you swept?)"]


def test_bad_keys_and_metrics_are_config_errors(table):
    with pytest.raises(ConfigError) as exc:
        compare_runs(table, by="var.weather")
    assert (
        str(exc.value)
        == "--by 'var.weather' is not a key of these runs: use variant or one of var.lighting"
    )
    with pytest.raises(ConfigError) as exc:
        compare_runs(table, metrics=["colour"])
    assert str(exc.value) == "no run has the metric 'colour': choose from human_score, motion"
    assert compare_runs(table, metrics=["metrics.motion"]).metrics == ["motion"]
    assert compare_runs(table, metrics=["human"]).metrics == ["human_score"]


def test_json_and_csv(table):
    r = compare_runs(table, metrics=["motion"])
    d = json.loads(json.dumps(r.to_dict()))
    assert d["baseline"] == "lighting=day" and d["by"] == "variant"
    assert [g["failures"] for g in d["groups"]] == [0, 1]
    assert d["groups"][1]["metrics"]["motion"]["mean"] == 4.0
    assert d["ab"][0]["wilcoxon_p"] == pytest.approx(0.03125)
    lines = r.to_csv().splitlines()
    assert lines[0] == (
        "group,runs,failures,check_pass_rate,motion_n,motion_mean,motion_lo,motion_hi,"
        "motion_diff,motion_diff_lo,motion_diff_hi,motion_welch_p,motion_pairs,"
        "motion_wilcoxon_p,motion_verdict,spend_usd,usable,cost_per_generation,"
        "cost_per_usable_clip"
    )
    assert lines[1].startswith("lighting=day,6,0,1,6,3.5,")
    assert lines[1].endswith(",,,,,,,0,6,0,0")  # the baseline has no A/B of its own
    assert lines[2].startswith("lighting=night,7,1,0.833333,6,4,")
    assert lines[2].endswith(",6,0.03125,higher,0,5,0,0")


def test_cost_per_generation_and_per_usable_clip(table):
    frame = table.frame
    # night: 7 runs billed $0.80 each (the failed one too), 5 passed their checks
    frame["metrics.cost_usd"] = [0.8 if v == "bbb" else 0.4 for v in frame["variant"]]
    frame.loc[frame["run_id"] == "aaa-1", "checks_passed"] = False
    r = compare_runs(table, metrics=["motion"], ranking=False)
    day, night = r.groups
    assert (night.spend, night.usable, night.runs) == (pytest.approx(5.6), 5, 7)
    assert night.cost_per_generation == pytest.approx(0.8)
    assert night.cost_per_usable == pytest.approx(5.6 / 5)
    assert (day.spend, day.usable) == (pytest.approx(2.4), 5)
    assert day.cost_per_usable == pytest.approx(2.4 / 5)
    g = json.loads(json.dumps(r.to_dict()))["groups"][1]
    assert (g["spend_usd"], g["usable"], g["voted_both_bad"]) == (5.6, 5, 0)
    assert (g["cost_per_generation"], g["cost_per_usable_clip"]) == (0.8, 1.12)
    text = result_text(r, width=100)
    assert "$/usable clip" in text and "$1.12" in text and "$0.48" in text
    # no clip usable: nothing to divide by
    frame["checks_passed"] = False
    night = compare_runs(table, metrics=["motion"], ranking=False).groups[1]
    assert (night.usable, night.cost_per_usable) == (0, None)


def test_groups_follow_the_experiment_file_order_when_known(table):
    table.order = {"name": [], "params.var.lighting": ["night", "day"]}
    r = compare_runs(table)
    assert [g.label for g in r.groups] == ["lighting=night", "lighting=day"]
    assert r.baseline == "lighting=night"
    assert r.ab[0].verdict == "lower"
    by_key = compare_runs(table, by="var.lighting")
    assert [g.label for g in by_key.groups] == ["var.lighting=night", "var.lighting=day"]
    # values the file does not list go last, sorted
    table.order = {"params.var.lighting": ["night"]}
    assert compare_runs(table).baseline == "lighting=night"
    table.order = {}
    assert compare_runs(table).baseline == "lighting=day"
