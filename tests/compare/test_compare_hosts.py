"""Hosts and models end to end (issue 14): an experiment crossing ``model: [veo-3.1,
veo-3.1-fast]`` (and ``provider: [segmind, replicate]`` on ``veolab sim serve``) runs into MLflow,
each run on its own host and model, and ``veolab compare --by model`` / ``--by provider`` groups
them with the cost of a generation and of a usable clip."""

from __future__ import annotations

import json
import random
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers import generations

from veolab.cli import cli
from veolab.compare.runs import load_runs
from veolab.review.session import ReviewSession
from veolab.tracking import schema as S
from veolab.tracking.store import existing_store

KEY = "test-key-123456"


def project(tmp: Path, name: str, body: str) -> Path:
    (tmp / "prompts").mkdir(exist_ok=True)
    (tmp / "prompts" / "q.j2").write_text("{{ subject }} on a beach, {{ lighting }}")
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ntemplate: q.j2\nparams: {{resolution: 720p, duration: 4}}\n"
        "concurrency: 4\n" + body
    )
    return path


def run(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


def test_two_models_on_the_simulator_into_mlflow_and_compare_by_model(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        "tiers",
        "vars: {subject: a red fox, lighting: [bright sunny day, soft morning light]}\n"
        "seeds: [1, 2, 3]\nmodel: [veo-3.1, veo-3.1-fast]\n",
    )
    r = run("run", str(path))
    assert r.exit_code == 0, r.output
    assert "tiers: 12 runs | generated 12 |" in r.stdout
    mlflow.set_tracking_uri(existing_store().uri)
    runs = generations("tiers", "FINISHED")
    assert sorted((x.data.params["model"], x.data.tags[S.MODEL]) for x in runs) == sorted(
        [("veo-3.1", "veo-3.1")] * 6 + [("veo-3.1-fast", "veo-3.1-fast")] * 6
    )
    # the same requests on both models: six hashes, each logged once per model
    assert len({x.data.tags[S.REQUEST_HASH] for x in runs}) == 6
    sweep = mlflow.get_run(runs[0].data.tags[S.PARENT_RUN_ID])
    assert (sweep.data.tags[S.PROVIDER], sweep.data.tags[S.MODEL]) == (
        "sim",
        "veo-3.1,veo-3.1-fast",
    )

    # done per (host, model): a second run pays for nothing
    again = run("run", str(path))
    assert again.exit_code == 0, again.output
    assert "nothing to do: 12 runs already done" in again.stdout

    r = run("compare", "tiers", "--by", "model", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [(g["label"], g["runs"], g["usable"]) for g in data["groups"]] == [
        ("model=veo-3.1", 6, 6),
        ("model=veo-3.1-fast", 6, 6),
    ]
    assert data["groups"][0]["cost_per_usable_clip"] == 0.0  # the simulator is free
    text = run("compare", "tiers", "--by", "model")
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("tiers: 2 groups by model\n")
    assert text.stdout.splitlines()[1].split() == ["veo-3.1", "(baseline)", "veo-3.1-fast"]
    by_variant = json.loads(run("compare", "tiers", "--json").stdout)
    assert len(by_variant["groups"]) == 4  # lighting x model


@pytest.mark.slow
def test_two_hosts_and_two_models_on_sim_serve(
    tmp_path: Path, sim_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = sim_server(api_key=KEY, credits=100.0)
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    path = project(
        tmp_path,
        "hosts",
        "vars: {subject: a red fox, lighting: bright sunny day}\nseeds: [1, 2, 3]\n"
        f'provider:\n  - {{name: segmind, base_url: "{srv.base_url}", poll_interval: 0.05}}\n'
        f'  - {{name: replicate, base_url: "{srv.base_url}", poll_interval: 0.05}}\n'
        "model: [veo-3.1, veo-3.1-fast]\n",
    )
    plan = json.loads(run("plan", str(path), "--json").stdout)
    assert [(h["provider"], h["model"], h["runs"], h["estimated_spend"]) for h in
            plan["totals"]["hosts"]] == [
        ("segmind", "veo-3.1", 3, 4.8),  # 3 x 4 s x $0.40
        ("segmind", "veo-3.1-fast", 3, 1.8),  # 3 x 4 s x $0.15
        ("replicate", "veo-3.1", 3, 4.8),
        ("replicate", "veo-3.1-fast", 3, 1.8),
    ]  # fmt: skip
    r = run("run", str(path), "--yes")
    assert r.exit_code == 0, r.output
    assert "| generated 12 |" in r.stdout and "spend $13.20" in r.stdout
    # each host billed its own jobs, on its own routes
    jobs = srv.ledger()["jobs"]
    assert len(jobs) == 12
    assert sum(j["cost"] for j in jobs) == pytest.approx(13.2)

    mlflow.set_tracking_uri(existing_store().uri)
    runs = generations("hosts", "FINISHED")
    assert sorted({(x.data.tags[S.PROVIDER], x.data.tags[S.MODEL]) for x in runs}) == [
        ("replicate", "veo-3.1"),
        ("replicate", "veo-3.1-fast"),
        ("segmind", "veo-3.1"),
        ("segmind", "veo-3.1-fast"),
    ]

    # a rerun of a replicate veo-3.1-fast run goes to replicate's block of the file (its
    # base URL), on that model
    fast = next(
        x
        for x in runs
        if (x.data.tags[S.PROVIDER], x.data.tags[S.MODEL]) == ("replicate", "veo-3.1-fast")
    )
    r = run("rerun", fast.info.run_id, "--yes", "--json")
    assert r.exit_code == 0, r.output
    assert len(srv.ledger()["jobs"]) == 13
    assert srv.ledger()["jobs"][-1]["model"] == "google/veo-3.1-fast"  # replicate's route
    assert sum(j["cost"] for j in srv.ledger()["jobs"]) == pytest.approx(13.8)

    # a reviewer calls one pair both bad: those two clips are not usable any more
    tracker = existing_store()
    session = ReviewSession(
        load_runs("hosts", tracker=tracker), by="provider", tracker=tracker, rng=random.Random(1)
    )
    try:
        pair = session.next_pair("ann")
        session.vote(pair["pair"], "ann", "both_bad")
        bad = {pair["left"]["run_id"], pair["right"]["run_id"]}
    finally:
        session.close()

    r = run("compare", "hosts", "--by", "provider", "--json")
    assert r.exit_code == 0, r.output
    groups = {g["label"]: g for g in json.loads(r.stdout)["groups"]}
    assert set(groups) == {"provider=segmind", "provider=replicate"}
    for g in groups.values():
        assert (g["runs"], g["spend_usd"]) == (6, pytest.approx(6.6))
        assert g["cost_per_generation"] == pytest.approx(1.1)
        voted = sum(rid in bad for rid in g["run_ids"])
        assert (g["usable"], g["voted_both_bad"]) == (6 - voted, voted)
        assert g["cost_per_usable_clip"] == pytest.approx(6.6 / (6 - voted))
    text = run("compare", "hosts", "--by", "model")
    assert text.exit_code == 0, text.output
    lines = {ln.split()[0]: ln for ln in text.stdout.splitlines() if ln.strip()}
    assert lines["spend"].split()[1:] == ["$9.60", "$3.60"]
    assert lines["$/generation"].split()[1:] == ["$1.60", "$0.60"]
    assert "$/usable" in text.stdout

    # the HTML report's compare table carries the same costs
    from veolab.report import write_report

    out = tmp_path / "hosts.html"
    write_report("hosts", out, by="provider", log_to_mlflow=False)
    html = out.read_text()
    table = html[html.index('<section id="compare">') : html.index('<section id="ab">')]
    assert "<th>$/generation</th><th>$/usable clip</th>" in table
    assert table.count('<td class="num">$6.60</td>') == 2 and "$1.10" in table
