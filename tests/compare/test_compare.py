"""`veolab compare` end to end on a real simulator sweep.

The sweep (2 lighting variants x 3 seeds, 720p, 4 s) is the session's ``sweep`` fixture
(tests/helpers.py), shared with the report, rerun, rate and MLflow UI tests. Tests that write
to MLflow work on a copy of its database (``sweep.isolated``), so they do not see each other's
ratings and reruns.
"""

from __future__ import annotations

import json

import pytest
from helpers import BRIGHT, DARK, NAME, StubAnalysis, invoke


def test_compare_prints_groups_and_ab(sweep):
    r = invoke("compare", NAME, "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    out = r.output
    assert f"{NAME}: 2 groups by variant" in out
    assert f"{BRIGHT} (baseline)" in out
    # a borderless table at 200 columns: the row name, then one cell per group
    lines = {
        ln[:16].strip(): ln[16:].split()
        for ln in out.splitlines()
        if ln.startswith(("runs ", "failures ", "seeds "))
    }
    assert lines["runs"] == ["3", "3"]
    assert lines["failures"] == ["0", "0"]
    assert lines["seeds"] == ["1,2,3", "1,2,3"]
    assert f"A/B: {DARK} vs {BRIGHT}" in out
    assert "note: 3 paired seeds: the signed-rank test needs 6 to reach p<0.05" in out
    assert "note: small sample (n=3 vs n=3): treat as a hint" in out


def test_compare_json_finds_the_dark_variant_darker(sweep):
    r = invoke("compare", NAME, "--tracking-uri", sweep.uri, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["experiment"], d["by"], d["baseline"]) == (NAME, "variant", BRIGHT)
    assert d["sweeps"] == [sweep.parent_id]
    assert [g["label"] for g in d["groups"]] == [BRIGHT, DARK]
    for g in d["groups"]:
        assert g["runs"] == 3 and g["seeds"] == [1, 2, 3]
        assert sorted(g["run_ids"]) == sorted(sweep.runs[(g["label"], s)] for s in (1, 2, 3))
    assert {
        "colorfulness",
        "motion",
        "sharpness",
        "brightness_mean",
        "loudness_lufs",
        "latency_s",
        "cost_usd",
    } <= set(d["metrics"])
    assert "human_score" not in d["metrics"]  # nobody rated yet
    ab = {a["metric"]: a for a in d["ab"]}
    assert ab["brightness_mean"]["verdict"] == "lower"
    assert ab["brightness_mean"]["diff_hi"] < 0
    assert ab["brightness_mean"]["n_pairs"] == 3
    assert ab["cost_usd"]["verdict"] == "no clear difference"


def test_compare_one_sweep_by_its_parent_run_and_by_a_swept_key(sweep):
    r = invoke(
        "compare",
        sweep.parent_id,
        "--tracking-uri",
        sweep.uri,
        "--json",
        "--by",
        "var.lighting",
        "--metric",
        "brightness",
        "--baseline",
        "dark moonlit night",
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["metrics"] == ["brightness_mean"]
    assert d["baseline"] == "var.lighting=dark moonlit night"
    assert [g["label"] for g in d["groups"]] == [
        "var.lighting=bright sunny morning light",
        "var.lighting=dark moonlit night",
    ]
    assert d["ab"][0]["verdict"] == "higher"


def test_compare_csv(sweep):
    r = invoke("compare", NAME, "--tracking-uri", sweep.uri, "--csv", "--metric", "motion")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("group,runs,failures,check_pass_rate,motion_n,motion_mean,")
    assert [ln.split(",")[:3] for ln in lines[1:]] == [[BRIGHT, "3", "0"], [DARK, "3", "0"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "Error: no experiment or sweep run named 'nope'; experiments in "),
        (
            [NAME, "--by", "var.weather"],
            "Error: --by 'var.weather' is not a key of these runs: use variant or one of "
            "var.lighting",
        ),
        ([NAME, "--metric", "colour"], "Error: no run has the metric 'colour': choose from "),
        ([NAME, "--baseline", "dusk"], "Error: --baseline 'dusk' names no group: choose one of "),
        ([NAME, "--json", "--csv"], "Error: --json and --csv: choose one"),
    ],
)
def test_compare_bad_input_exits_2(sweep, args, message):
    r = invoke("compare", *args, "--tracking-uri", sweep.uri)
    assert r.exit_code == 2
    assert r.output.startswith(message)
    assert "Traceback" not in r.output


def test_compare_a_generation_run_id_says_which_id_to_use(sweep):
    rid = sweep.runs[(BRIGHT, 1)]
    r = invoke("compare", rid, "--tracking-uri", sweep.uri)
    assert r.exit_code == 2
    assert r.output == (
        f"Error: {rid} is a generation run, not a sweep: pass its parent run id "
        f"{sweep.parent_id} or the experiment name\n"
    )


def test_failures_are_counted_and_repeats_count_once_unless_all_sweeps(sweep, tmp_path):
    from veolab.compare import compare_runs, load_runs
    from veolab.errors import ProviderError
    from veolab.request import VideoRequest
    from veolab.tracking.generation import GenerationRecord, log_failure, log_generation
    from veolab.tracking.store import Tracker

    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    orig = tracker.get_run(sweep.runs[(DARK, 2)])
    tags, params = orig.data.tags, orig.data.params

    def record(seed: int) -> GenerationRecord:
        req = VideoRequest(prompt=params["prompt"], resolution="720p", duration=4, seed=seed)
        return GenerationRecord(
            req, "sim", "veo-3.1", variant_id=tags["veolab.variant"], variant_label=DARK
        )

    assert record(2).request.request_hash() == tags["veolab.request_hash"]
    log_failure(tracker, sweep.experiment_id, sweep.parent_id, record(9), ProviderError("boom"))
    # the same request as seed 2, logged again (as a --force sweep would)
    log_generation(
        tracker,
        sweep.experiment_id,
        sweep.parent_id,
        record(2),
        b"not-a-video",
        StubAnalysis({"brightness_mean": 1000.0}),
        None,
    )
    once = compare_runs(load_runs(NAME, tracker=tracker), metrics=["brightness_mean"])
    dark = once.group(DARK)
    assert (dark.runs, dark.failures, dark.seeds) == (4, 1, [1, 2, 3, 9])
    assert dark.summaries["brightness_mean"].n == 3
    assert dark.summaries["brightness_mean"].hi > 1000  # the latest run of seed 2 counts
    every = compare_runs(
        load_runs(NAME, tracker=tracker, all_sweeps=True), metrics=["brightness_mean"]
    ).group(DARK)
    assert (every.runs, every.failures, every.summaries["brightness_mean"].n) == (5, 1, 4)


def test_group_order_comes_from_the_logged_experiment_file(sweep):
    from veolab.compare.runs import experiment_order
    from veolab.tracking.store import Tracker

    assert experiment_order(Tracker(sweep.uri), sweep.parent_id) == {
        "name": [],
        "params.var.lighting": ["bright sunny morning light", "dark moonlit night"],
    }
