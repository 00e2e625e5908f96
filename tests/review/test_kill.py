"""``veolab review`` as a real process: votes over HTTP while it is killed with SIGKILL, then a
restart that still holds every acknowledged vote, resumes a pair served before the kill, and at
SIGTERM logs one FINISHED review run to MLflow covering every vote."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from helpers import NAME

from veolab.review.votes import VoteStore
from veolab.tracking import schema as S

START_TIMEOUT = 300.0  # a loaded machine (load average 8+) imports slowly


class ReviewProcess:
    """``veolab review NAME --port 0`` in its own process; ``url`` once it printed its link."""

    def __init__(self, uri: str, log: Path) -> None:
        self.log = log.open("w")
        cmd = [sys.executable, "-m", "veolab", "review", NAME, "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, "--tracking-uri", uri],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=os.environ.copy(),
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            self.url = lines.get(timeout=START_TIMEOUT).strip()
        except queue.Empty:
            self.kill()
            raise AssertionError(f"veolab review printed no link: {log.read_text()}") from None
        assert self.url.startswith("http://127.0.0.1:"), (self.url, log.read_text())

    def kill(self, sig: int = signal.SIGKILL) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(120)
        finally:
            if self.proc.poll() is None:  # the fallback: never leave a server behind
                self.proc.kill()
                self.proc.wait(30)
            self.log.close()


def vote_until_stopped(url: str, acked: list, stop: threading.Event) -> None:
    """Vote as ann and bob in turn until the server goes away; keep what it acknowledged."""
    choices = ["left", "right", "tie", "both_bad"]
    with httpx.Client(base_url=url, timeout=60) as c:
        i = 0
        while not stop.is_set():
            reviewer = ("ann", "bob")[i % 2]
            try:
                pair = c.get("/api/pair", params={"reviewer": reviewer}).json()["pair"]
                body = {"pair": pair, "reviewer": reviewer, "choice": choices[i % 4]}
                r = c.post("/api/vote", json=body)
            except httpx.HTTPError:
                return  # killed: an unanswered vote was never acknowledged
            if r.status_code == 200:
                acked.append((pair, reviewer, choices[i % 4]))
            i += 1


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_vote_and_a_restart_resumes(sweep, tmp_path):
    uri = sweep.isolated(tmp_path)
    first = ReviewProcess(uri, tmp_path / "first.log")
    acked: list = []
    stop = threading.Event()
    try:
        with httpx.Client(base_url=first.url, timeout=60) as c:
            pending = c.get("/api/pair", params={"reviewer": "cy"}).json()  # served, no vote
        voter = threading.Thread(target=vote_until_stopped, args=(first.url, acked, stop))
        voter.start()
        while len(acked) < 8 and voter.is_alive():
            voter.join(0.05)
        assert first.kill(signal.SIGKILL) == -signal.SIGKILL  # mid-voting
    finally:
        stop.set()
        first.kill()
    voter.join(120)
    assert len(acked) >= 8

    store = VoteStore()
    votes = {v.pair_id: v for v in store.votes(NAME)}
    for pair, reviewer, choice in acked:
        assert pair in votes, f"acknowledged vote on {pair} lost"
        assert (votes[pair].reviewer, votes[pair].choice) == (reviewer, choice)
    assert len(votes) in (len(acked), len(acked) + 1)  # + one committed, its answer cut off
    store.close()

    second = ReviewProcess(uri, tmp_path / "second.log")
    try:
        with httpx.Client(base_url=second.url, timeout=60) as c:
            again = c.get("/api/pair", params={"reviewer": "cy"}).json()
            assert again["pair"] == pending["pair"] and again["resumed"] is True
            body = {"pair": pending["pair"], "reviewer": "cy", "choice": "tie", "note": "<i>"}
            r = c.post("/api/vote", json=body)
            assert r.status_code == 200, r.text
            fresh = c.get("/api/pair", params={"reviewer": "cy"}).json()
            assert fresh["pair"] != pending["pair"]
            total = c.get("/api/ranking").json()["votes"]
            assert total == len(votes) + 1
        assert second.kill(signal.SIGTERM) == 0
    finally:
        second.kill()
    log = (tmp_path / "second.log").read_text()
    assert "Logged the review to MLflow run" in log, log

    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(NAME)
    reviews = client.search_runs([exp.experiment_id], f"tags.`{S.KIND}` = '{S.KIND_REVIEW}'")
    assert len(reviews) == 1  # the killed server logged nothing and left nothing RUNNING
    run = reviews[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics[S.REVIEW_VOTES] == total
    running = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    assert running == []
