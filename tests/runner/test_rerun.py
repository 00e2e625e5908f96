"""`veolab rerun`: the exact logged request again, never from the cache, and how alike it is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import BRIGHT, DARK, NAME, StubAnalysis, invoke

from veolab.tracking.store import Tracker


@pytest.fixture
def sim_calls(monkeypatch):
    """Count the simulator's renders: a rerun must make a new one every time."""
    import veolab.providers.sim.provider as sim

    calls = []
    real = sim.simulate

    def counting(request, config=None):
        calls.append(request.seed)
        return real(request, config)

    monkeypatch.setattr(sim, "simulate", counting)
    return calls


@pytest.mark.slow
def test_same_seed_reruns_reproduce_exactly_and_are_logged(sweep, tmp_path, sim_calls):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(BRIGHT, 1)]
    r = invoke("rerun", rid, "--times", "2", "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert f"Rerun of {rid} (bright s1) on sim veo-3.1, seed 1: $0.00 (free provider)" in r.output
    assert sim_calls == [1, 1]  # two new renders: nothing came from the store or MLflow
    d = json.loads(r.output[r.output.index("{") :])
    assert d["original_run_id"] == rid and d["spend"] == 0.0
    assert len(d["reruns"]) == 2
    for rr in d["reruns"]:
        assert rr["error"] is None and rr["seed"] == 1
        assert rr["repro"] == {
            "frames_a": 96,
            "frames_b": 96,
            "frames_compared": 16,
            "psnr_db": 100.0,
            "psnr_min_db": 100.0,
            "ssim": 1.0,
            "ssim_min": 1.0,
            "identical_frames": 1.0,
            "audio_corr": 1.0,
            "repro_score": 1.0,
        }
    tracker = Tracker(uri)
    child = tracker.get_run(d["reruns"][0]["run_id"])
    orig = tracker.get_run(rid)
    assert child.data.tags["veolab.rerun_of"] == rid
    assert child.data.tags["veolab.source"] == "rerun"
    assert child.data.tags["veolab.rerun_seed_changed"] == "false"
    assert child.data.tags["veolab.request_hash"] == orig.data.tags["veolab.request_hash"]
    assert child.data.tags["veolab.variant"] == orig.data.tags["veolab.variant"]
    assert child.data.tags["mlflow.parentRunId"] == d["parent_run_id"]
    assert (
        child.data.tags["veolab.provider_request_id"]
        != orig.data.tags["veolab.provider_request_id"]
    )
    assert child.data.metrics["repro_score"] == 1.0
    assert child.data.metrics["repro_identical_frames"] == 1.0
    arts = {f.path for f in tracker.client.list_artifacts(child.info.run_id)}
    assert {"video.mp4", "repro.json", "request.json", "contact_sheet.jpg"} <= arts
    parent = tracker.get_run(d["parent_run_id"])
    assert parent.data.tags["veolab.kind"] == "rerun"
    assert parent.data.tags["veolab.rerun_of"] == rid
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["repro_score"] == 1.0
    assert orig.data.metrics["repro_score"] == 1.0  # a same-seed rerun marks the original too
    kept = sorted((Path(os.environ["VEOLAB_HOME"]) / "reruns" / rid).iterdir())
    h = orig.data.tags["veolab.request_hash"][:12]
    assert [p.name for p in kept] == [f"{h}-1.json", f"{h}-1.mp4", f"{h}-2.json", f"{h}-2.mp4"]
    assert (
        kept[1].read_bytes()
        == tracker.download(child.info.run_id, "video.mp4", tmp_path / "dl").read_bytes()
    )

    # compare: the reruns are not new samples; the original's group shows repro_score
    c = json.loads(invoke("compare", NAME, "--tracking-uri", uri, "--json").output)
    bright = next(g for g in c["groups"] if g["label"] == BRIGHT)
    assert bright["runs"] == 3
    assert bright["metrics"]["repro_score"] == {
        "n": 1,
        "mean": 1.0,
        "lo": None,
        "hi": None,
        "sd": None,
    }


@pytest.mark.slow
def test_another_seed_is_clearly_less_reproducible(sweep, tmp_path, sim_calls):
    uri = sweep.isolated(tmp_path)
    rid = sweep.runs[(DARK, 2)]
    r = invoke("rerun", rid, "--seed", "77", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert f"Rerun of {rid} (dark s2) on sim veo-3.1, seed 77 (was 2): $0.00" in r.output
    assert sim_calls == [77]
    tracker = Tracker(uri)
    [child] = tracker.search(
        sweep.experiment_id,
        f"tags.`veolab.rerun_of` = '{rid}' AND tags.`veolab.kind` = 'generation'",
    )
    m = child.data.metrics
    assert m["repro_score"] < 0.9
    assert m["repro_identical_frames"] == 0.0
    assert m["repro_psnr_db"] < 50
    assert child.data.tags["veolab.rerun_seed_changed"] == "true"
    assert child.data.tags["veolab.seed"] == "77"
    assert "repro_score" not in tracker.get_run(rid).data.metrics  # not a reproducibility of rid
    # another seed is a measurement, not a new sample of the variant
    c = json.loads(invoke("compare", NAME, "--tracking-uri", uri, "--json").output)
    dark = next(g for g in c["groups"] if g["label"] == DARK)
    assert (dark["runs"], dark["seeds"]) == (3, [1, 2, 3])
    assert "repro_score" not in c["metrics"]
    row = next(ln for ln in r.output.splitlines() if ln.startswith("1 "))
    cells = row.split()  # #, run (its id whole), seed, repro score, PSNR, SSIM, same frames, ...
    assert cells[1:4] == [child.info.run_id, "77", f"{m['repro_score']:.3f}"]
    checks = "passed" if child.data.tags["veolab.checks_passed"] == "true" else "failed"
    assert cells[6:] == ["0%", f"{m['repro_audio_corr']:.3f}", checks]


def _record(tracker, exp_id, request, provider="sim"):
    from veolab.tracking.generation import GenerationRecord

    return GenerationRecord(
        request, provider, "veo-3.1", variant_id="v1", variant_label="with image"
    )


def test_rebuild_with_image_inputs_and_refuse_a_changed_request(sweep, tmp_path, make_png):
    from veolab.errors import ConfigError
    from veolab.request import VideoRequest
    from veolab.runner.rerun import plan_rerun
    from veolab.tracking.generation import log_generation

    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    exp_id = tracker.experiment_id("rerun-inputs")
    png = make_png("first.png", (200, 30, 30))
    req = VideoRequest.build(
        prompt="a red door opens",
        resolution="720p",
        duration=8,
        seed=5,
        image=str(png),
        last_frame=str(make_png("last.png", (30, 30, 200))),
    )
    rid = log_generation(
        tracker, exp_id, None, _record(tracker, exp_id, req), b"video", StubAnalysis({}), None
    )
    plan = plan_rerun(rid, tracker=tracker)
    assert plan.request.request_hash() == req.request_hash()
    assert plan.request.image.sha256 == req.image.sha256
    assert plan.request.image.data == png.read_bytes()
    assert plan.request.last_frame.sha256 == req.last_frame.sha256
    assert (plan.provider, plan.model, plan.paid, plan.total_cost) == ("sim", "veo-3.1", False, 0.0)
    assert plan.record.extra_tags == {"veolab.rerun_of": rid, "veolab.rerun_seed_changed": "false"}

    # an input image swapped under the run: refuse
    other = make_png("other.png", (1, 2, 3))
    (tmp_path / "swap").mkdir()
    swapped = tmp_path / "swap" / "image.png"
    swapped.write_bytes(other.read_bytes())
    tracker.log_artifact(rid, swapped, "inputs")
    with pytest.raises(ConfigError) as exc:
        plan_rerun(rid, tracker=tracker)
    assert str(exc.value) == (
        f"inputs/image.png of run {rid} does not match the logged image hash: "
        "the artifact was changed"
    )

    # request.json edited (a different prompt under the old hash): refuse
    rid2 = log_generation(
        tracker,
        exp_id,
        None,
        _record(tracker, exp_id, VideoRequest(prompt="x", seed=1)),
        b"video",
        StubAnalysis({}),
        None,
    )
    rec = json.loads((tracker.download(rid2, "request.json", tmp_path / "dl")).read_text())
    logged = rec["request_hash"]
    rec["prompt"] = "y"
    edited = tmp_path / "edit" / "request.json"
    edited.parent.mkdir()
    edited.write_text(json.dumps(rec))
    tracker.log_artifact(rid2, edited)
    rebuilt = VideoRequest(prompt="y", seed=1).request_hash()
    r = invoke("rerun", rid2, "--tracking-uri", uri)
    assert r.exit_code == 2
    assert r.output == (
        f"Error: the request rebuilt from run {rid2} hashes to {rebuilt[:12]}, not "
        f"the logged {logged[:12]}: not reissuing a different request\n"
    )


def test_paid_rerun_states_its_cost_and_asks(sweep, tmp_path, monkeypatch):
    from veolab.errors import ProviderError
    from veolab.request import VideoRequest
    from veolab.tracking.generation import log_failure

    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    exp_id = tracker.experiment_id("rerun-paid")
    req = VideoRequest(prompt="a fox", resolution="720p", duration=4, seed=3, generate_audio=True)
    rid = log_failure(
        tracker, exp_id, None, _record(tracker, exp_id, req, "segmind"), ProviderError("timeout")
    )
    r = invoke("rerun", rid, "--times", "2", "--tracking-uri", uri)
    assert (r.exit_code, r.output) == (
        2,
        "Error: provider segmind needs a key: set SEGMIND_API_KEY or pass --api-key\n",
    )
    monkeypatch.setenv("SEGMIND_API_KEY", "sk-test-not-a-key")
    r = invoke("rerun", rid, "--times", "2", "--tracking-uri", uri)  # stdin is not a terminal
    assert r.exit_code == 1
    assert r.output == (
        f"Rerun of {rid} (with image s3) on segmind veo-3.1, seed 3: "
        "2 x $1.60 = $3.20 (estimate)\n"
        "Error: not confirmed: the rerun would cost about $3.20; pass --yes to run without asking\n"
    )
    assert "sk-test" not in r.output
    # nothing was logged: no rerun parent in the experiment
    kinds = [x.data.tags.get("veolab.kind") for x in tracker.search(exp_id)]
    assert kinds == ["generation"]


@pytest.mark.slow
def test_paid_rerun_over_http_against_the_local_segmind(sweep, tmp_path, sim_server, monkeypatch):
    """`--yes` pays, the host's cost is reported, the key appears nowhere, the clip matches."""
    from veolab.request import VideoRequest
    from veolab.tracking.generation import GenerationRecord, log_generation

    key = "SG_rerun_0123456789abcdef"
    srv = sim_server(api_key=key, credits=10)
    uri = sweep.isolated(tmp_path)
    tracker = Tracker(uri)
    src = tracker.get_run(sweep.runs[(BRIGHT, 3)])
    req = VideoRequest(prompt=src.data.params["prompt"], resolution="720p", duration=4, seed=3)
    assert req.request_hash() == src.data.tags["veolab.request_hash"]
    video = tracker.download(src.info.run_id, "video.mp4", tmp_path / "src").read_bytes()
    exp_id = tracker.experiment_id("rerun-segmind")
    record = GenerationRecord(req, "segmind", "veo-3.1", variant_id="b", variant_label="bright")
    rid = log_generation(tracker, exp_id, None, record, video, StubAnalysis({}), None)

    monkeypatch.setenv("SEGMIND_API_KEY", key)
    r = invoke("rerun", rid, "--yes", "--base-url", srv.base_url, "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert "on segmind veo-3.1, seed 3: 1 x $1.60 = $1.60 (estimate)" in r.output
    d = json.loads(r.output[r.output.index("{") :])
    assert d["spend"] == 1.6  # what the host billed (x-cost)
    assert srv.ledger()["counts"]["submit"] == 1
    [rerun] = d["reruns"]
    assert rerun["repro"]["repro_score"] == 1.0  # the local Segmind renders like the simulator
    child = tracker.get_run(rerun["run_id"])
    assert child.data.metrics["cost_usd"] == 1.6
    assert child.data.tags["veolab.provider"] == "segmind"
    logged = tracker.download(child.info.run_id, "response.json", tmp_path / "resp").read_text()
    assert key not in r.output and key not in logged
    assert key not in json.dumps(child.data.tags) + json.dumps(child.data.params)
