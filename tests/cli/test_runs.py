"""`veolab runs`: the runs of an experiment, a sweep or a rerun, ids whole, at 80 columns too;
and the ids `veolab rerun` prints, whole."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import BRIGHT, DARK, NAME, invoke

from veolab.cli import cli
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker


def narrow(*args: str):
    """The CLI at 80 columns, as a terminal of the usual size gets it."""
    return CliRunner(env={"COLUMNS": "80"}).invoke(cli, list(args))


def variant_ids(sweep) -> dict[str, str]:
    tracker = Tracker(sweep.uri)
    return {
        label: tracker.get_run(sweep.runs[(label, 1)]).data.tags[S.VARIANT]
        for label in (BRIGHT, DARK)
    }


def test_runs_lists_the_experiment_run_by_run(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    assert invoke("rate", sweep.runs[(DARK, 2)], "4.5", "--tracking-uri", uri).exit_code == 0
    v = variant_ids(sweep)
    r = invoke("runs", NAME, "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    rows = [
        f"{sweep.runs[(label, seed)]} {v[label]} {seed:>4} finished passed $0.00 "
        f"{'4.5' if (label, seed) == (DARK, 2) else '–':>6}"
        for label in (BRIGHT, DARK)
        for seed in (1, 2, 3)
    ]
    assert r.output.splitlines() == [
        f"{NAME}: 6 runs",
        "id                               variant    seed status   checks  cost rating",
        *rows,
        f"  {v[BRIGHT]}: {BRIGHT}",
        f"  {v[DARK]}: {DARK}",
    ]


def test_runs_at_80_columns_keeps_every_id_whole_on_its_line(sweep):
    r = narrow("runs", sweep.parent_id, "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == f"{NAME}, sweep {sweep.parent_id}: 6 runs"
    for rid in sweep.runs.values():
        assert sum(line.startswith(rid + " ") for line in lines) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--variant", BRIGHT], [(BRIGHT, 1), (BRIGHT, 2), (BRIGHT, 3)]),
        (["--seed", "3", "--seed", "1"], [(BRIGHT, 1), (BRIGHT, 3), (DARK, 1), (DARK, 3)]),
        (["--variant", DARK, "--seed", "2"], [(DARK, 2)]),
        (["--status", "FINISHED", "--seed", "2"], [(BRIGHT, 2), (DARK, 2)]),
        (["--status", "failed"], []),
        (["--failed"], []),
    ],
)
def test_runs_filters(sweep, args, expected):
    r = invoke("runs", NAME, *args, "--json", "--tracking-uri", sweep.uri)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["total"], d["shown"]) == (6, len(expected))
    assert [x["run_id"] for x in d["runs"]] == [sweep.runs[k] for k in expected]


def test_runs_filter_by_variant_id_and_the_newest_n(sweep):
    v = variant_ids(sweep)
    r = invoke("runs", NAME, "--variant", v[DARK], "--json", "--tracking-uri", sweep.uri)
    d = json.loads(r.output)
    assert [x["run_id"] for x in d["runs"]] == [sweep.runs[(DARK, s)] for s in (1, 2, 3)]

    every = json.loads(invoke("runs", NAME, "--json", "--tracking-uri", sweep.uri).output)
    newest = sorted(every["runs"], key=lambda x: x["start_time"])[-2:]
    d = json.loads(
        invoke("runs", NAME, "--limit", "2", "--json", "--tracking-uri", sweep.uri).output
    )
    assert {x["run_id"] for x in d["runs"]} == {x["run_id"] for x in newest}
    r = invoke("runs", NAME, "--status", "failed", "--tracking-uri", sweep.uri)
    assert (r.exit_code, r.output) == (0, f"{NAME}: 0 of 6 runs; none match the filters\n")


def test_runs_json_carries_each_run(sweep):
    r = invoke(
        "runs", NAME, "--seed", "1", "--variant", BRIGHT, "--json", "--tracking-uri", sweep.uri
    )
    d = json.loads(r.output)
    rid = sweep.runs[(BRIGHT, 1)]
    run = Tracker(sweep.uri).get_run(rid)
    assert {k: d[k] for k in ("experiment", "experiment_id", "parent_run_id", "parent_kind")} == {
        "experiment": NAME,
        "experiment_id": sweep.experiment_id,
        "parent_run_id": None,
        "parent_kind": None,
    }
    assert d["variants"] == {run.data.tags[S.VARIANT]: BRIGHT}
    assert d["rerun_parents"] == []
    assert d["runs"] == [
        {
            "run_id": rid,
            "parent_run_id": sweep.parent_id,
            "variant": run.data.tags[S.VARIANT],
            "label": BRIGHT,
            "name": None,
            "seed": 1,
            "status": "finished",
            "checks_passed": True,
            "failed_checks": [],
            "cost_usd": 0.0,
            "human_score": None,
            "rating_note": None,
            "rerun_of": None,
            "request_hash": run.data.tags[S.REQUEST_HASH],
            "start_time": run.info.start_time,
        }
    ]


def test_failed_runs_and_failed_checks(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    tags = dict(Tracker(sweep.uri).get_run(sweep.runs[(DARK, 1)]).data.tags)
    base = {k: tags[k] for k in (S.KIND, S.VARIANT, S.VARIANT_LABEL)}
    bad_checks = tracker.create_run(
        sweep.experiment_id,
        "dark seed=8",
        {**base, S.SEED: "8", S.CHECKS_PASSED_TAG: "false", S.FAILED_CHECKS: "black_frames"},
        parent_id=sweep.parent_id,
    )
    tracker.terminate(bad_checks, "FINISHED")
    failed = tracker.create_run(
        sweep.experiment_id, "dark seed=9", {**base, S.SEED: "9"}, parent_id=sweep.parent_id
    )
    tracker.terminate(failed, "FAILED")

    d = json.loads(invoke("runs", NAME, "--failed", "--json", "--tracking-uri", uri).output)
    assert [(x["run_id"], x["status"], x["checks_passed"]) for x in d["runs"]] == [
        (bad_checks, "finished", False),
        (failed, "failed", None),
    ]
    assert d["runs"][0]["failed_checks"] == ["black_frames"]
    r = invoke("runs", NAME, "--status", "failed", "--tracking-uri", uri)
    v = base[S.VARIANT]
    assert r.output.splitlines()[2].split() == [failed, v, "9", "failed", "–", "–", "–"]
    r = invoke("runs", NAME, "--failed", "--tracking-uri", uri)
    assert r.output.splitlines()[2].split() == [bad_checks, v, "8", "finished", "failed", "–", "–"]


def test_without_an_experiment_runs_lists_the_one_run_most_recently(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    r = invoke("runs", "--tracking-uri", uri)
    assert r.output.splitlines()[0] == f"{NAME} (the experiment run most recently): 6 runs"
    tracker = Tracker(uri)
    newer = tracker.create_run(
        tracker.experiment_id("newer"), "x", {S.KIND: S.KIND_GENERATION, S.SEED: "5"}
    )
    tracker.terminate(newer, "FINISHED")
    r = invoke("runs", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "newer (the experiment run most recently): 1 run"
    assert r.output.splitlines()[2].split() == [newer, "–", "5", "finished", "–", "–", "–"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "Error: no experiment, sweep or rerun named 'nope' (experiments in "),
        ([NAME, "--variant", "dusk"], f"Error: --variant 'dusk' is none of {NAME}'s variants: "),
        ([NAME, "--status", "lost"], "Error: Invalid value for '--status': 'lost' is not one of"),
        ([NAME, "--limit", "0"], "Error: Invalid value for '--limit': 0 is not in the range x>=1"),
        (["abc"], "Error: no experiment, sweep or rerun named 'abc'"),
    ],
)
def test_runs_bad_input_exits_2(sweep, args, message):
    r = invoke("runs", *args, "--tracking-uri", sweep.uri)
    assert (r.exit_code, r.output.count("\n")) == (2, 1), r.output
    assert r.output.startswith(message)


def test_runs_of_a_generation_run_names_its_sweep(sweep):
    rid = sweep.runs[(BRIGHT, 2)]
    r = invoke("runs", rid[:10], "--tracking-uri", sweep.uri)
    assert (r.exit_code, r.output) == (
        2,
        f"Error: {rid} is a generation run, not a sweep: veolab runs {sweep.parent_id} "
        "lists its sweep\n",
    )


def test_runs_on_an_empty_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"
    assert Tracker(uri).client is not None  # the client makes a store: tables, no run
    r = invoke("runs", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (
        2,
        f"Error: {uri} holds no veolab runs yet: veolab run <experiment file> first, "
        "or set --tracking-uri or MLFLOW_TRACKING_URI for another store\n",
    )


def test_a_rerun_prints_its_ids_whole_and_runs_lists_it(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 1)]
    r = narrow("rerun", rid[:7], "--seed", "9", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == f"reproducibility against {rid}"
    new = Tracker(uri).search(
        sweep.experiment_id,
        f"tags.`{S.RERUN_OF}` = '{rid}' AND tags.`{S.KIND}` = '{S.KIND_GENERATION}'",
    )
    assert len(new) == 1
    child = new[0]
    parent = child.data.tags[S.PARENT_RUN_ID]
    row = [line for line in lines if line.startswith("1 ")]
    assert len(row) == 1 and row[0].startswith(f"1 {child.info.run_id}    9 ")
    assert lines[-1].startswith(f"MLflow rerun parent {parent}; spend $0.00; ")

    r = invoke("runs", NAME, "--tracking-uri", uri)
    assert r.output.splitlines()[0] == f"{NAME}: 6 runs"  # a rerun is no sample of the variant
    assert r.output.splitlines()[-2:] == [
        "reruns of these runs (veolab runs <rerun id> lists one's runs):",
        f"  {parent}",
    ]
    r = invoke("runs", parent[:8], "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"{NAME}, rerun {parent}: 1 run"
    assert lines[2].startswith(f"{child.info.run_id} ")
    assert " 9 finished passed $0.00      –" in lines[2]

    r = invoke("rate", child.info.run_id[:6], "2", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (0, f"Rated {child.info.run_id}: 2/5\n")
