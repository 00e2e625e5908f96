"""What the shared sweep logged for review in MLflow, read back through MLflow: each
generation's stills as stepped images (the chart view's image grid), the plan as the input
dataset of the sweep and of its generations (and as plan.json), the results table."""

from __future__ import annotations

import json

import cv2
import mlflow
import numpy as np
import pytest
from helpers import BRIGHT, DARK, TEMPLATE

from veolab.tracking import schema as S
from veolab.tracking.store import Tracker


@pytest.fixture
def sweep_store(sweep):
    """MlflowClient.load_table searches through mlflow's global tracking URI, not its own."""
    mlflow.set_tracking_uri(sweep.uri)
    yield Tracker(sweep.uri)
    mlflow.set_tracking_uri(None)


def _decode(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(int)


def test_the_stills_are_logged_as_one_image_key_a_step_each(sweep, tmp_path):
    tracker = Tracker(sweep.uri)
    rid = sweep.runs[(DARK, 2)]
    run = tracker.get_run(rid)
    assert run.data.tags["mlflow.loggedImages"] == "True"
    names = tracker.artifact_names(rid, "images")
    full = sorted((n for n in names if n.endswith(".png")), key=lambda n: int(n.split("+")[2]))
    # images/video~frames+step+<k>+timestamp+<ms>+<uuid>.png, and a +compressed.webp for each
    # (MLflow writes the key's "/" as "~" in the file name)
    assert [n.split("/")[1].split("+")[:3] for n in full] == [
        [S.IMAGE_FRAMES.replace("/", "~"), "step", str(k)] for k in range(10)
    ]
    assert len(names) == 20 and sum(n.endswith("+compressed.webp") for n in names) == 10
    # step k is the k-th still in time order: first, t01..t08, last (middle left out)
    stills = sorted(n for n in tracker.artifact_names(rid, S.ART_THUMBNAILS))
    order = ["first"] + [s for s in stills if "/t0" in s] + ["last"]
    for k, name in ((0, "first"), (4, order[4]), (9, "last")):
        png = _decode(tracker.download(rid, full[k], tmp_path / "png"))
        jpg_path = name if "/" in name else f"{S.ART_THUMBNAILS}/{name}.jpg"
        jpg = _decode(tracker.download(rid, jpg_path, tmp_path / "jpg"))
        assert png.shape == jpg.shape == (180, 320, 3)
        assert np.abs(png - jpg).max() <= 2, name  # the still's pixels (a JPEG decoded twice)
    assert order[4].endswith("_1.75s.jpg")  # the middle of the 4th of eight slices of 4 s


def test_the_plan_is_the_input_dataset_of_the_sweep_and_its_generations(sweep, sweep_store):
    tracker = sweep_store
    parent = tracker.client.get_run(sweep.parent_id)
    [plan] = parent.inputs.dataset_inputs
    assert plan.dataset.name == "cmp-e2e plan"
    assert {(t.key, t.value) for t in plan.tags} == {("mlflow.data.context", "plan")}
    assert json.loads(plan.dataset.profile) == {"num_rows": 6, "num_elements": 6 * 12}
    columns = [c["name"] for c in json.loads(plan.dataset.schema)["mlflow_colspec"]]
    assert columns == list(S.PLAN_COLUMNS)
    assert json.loads(plan.dataset.source)["uri"].endswith("exp.yaml")
    for rid in sweep.runs.values():
        [child] = tracker.client.get_run(rid).inputs.dataset_inputs
        assert child.dataset.name == plan.dataset.name
        assert child.dataset.digest == plan.dataset.digest

    # MLflow keeps no rows of a dataset: plan.json has them
    rows = tracker.client.load_table(sweep.experiment_id, S.ART_PLAN, run_ids=[sweep.parent_id])
    assert list(rows.columns) == list(S.PLAN_COLUMNS)
    assert len(rows) == 6
    by_hash = {r.request_hash: r for r in rows.itertuples()}
    for (label, seed), rid in sweep.runs.items():
        tags = tracker.get_run(rid).data.tags
        row = by_hash[tags[S.REQUEST_HASH]]
        assert (row.variant_label, row.seed, row.variant) == (label, seed, tags[S.VARIANT])
        assert (row.provider, row.model) == (tags[S.PROVIDER], tags[S.MODEL])
        lighting = label.removeprefix("lighting=")
        assert json.loads(row.vars) == {"subject": "a red fox", "lighting": lighting}
        assert row.prompt == TEMPLATE.strip().replace("{{ subject }}", "a red fox").replace(
            "{{ lighting }}", lighting
        )
        assert (row.template, row.estimated_cost_usd) == ("scene.j2", 0.0)


def test_the_results_table_has_one_row_per_generation(sweep, sweep_store):
    tracker = sweep_store
    table = tracker.client.load_table(sweep.experiment_id, S.ART_RESULTS, run_ids=[sweep.parent_id])
    assert len(table) == 6
    assert list(table.columns[:16]) == [
        "run_id",
        "run_name",
        "variant",
        "variant_label",
        "seed",
        "status",
        "source",
        "request_hash",
        "provider_request_id",
        "checks_passed",
        "failed_checks",
        "error",
        "cost_usd",
        "latency_s",
        "human_score",
        "rating_note",
    ]
    assert [(r.variant_label, r.seed) for r in table.itertuples()] == [
        (label, seed) for label in (BRIGHT, DARK) for seed in (1, 2, 3)
    ]
    for row in table.to_dict("records"):
        run = tracker.get_run(row["run_id"])
        assert row["run_name"] == run.info.run_name
        assert row["status"] == "FINISHED" and row["checks_passed"] is True
        # the table's JSON keeps 10 significant digits (pandas' to_json)
        metrics = run.data.metrics
        assert row["cost_usd"] == 0.0
        assert row["latency_s"] == pytest.approx(metrics[S.LATENCY_TOTAL], rel=1e-9)
        assert row["brightness_mean"] == pytest.approx(metrics["brightness_mean"], rel=1e-9)
        assert row["check.duration"] == 1.0
