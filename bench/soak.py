"""Custody soak (issue 9): kill -9 cycles, random faults, two processes at once.

    python bench/soak.py                      # everything (about 13 minutes on 2 busy cores)
    python bench/soak.py --quick              # 3 kill cycles, at most 3 fault rounds
    python bench/soak.py --only kill --cycles 10 --seed 9 --keep   # keep the stores to inspect
    git archive HEAD | tar -x -C /tmp/snap && PYTHONPATH=/tmp/snap python bench/soak.py
                                              # a fixed tree while others edit the checkout

Every `veolab run` is a real process (`python -m veolab run FILE --yes`) on a 24-run sweep (2 x 2
variants x 6 seeds, 720p 4 s with audio, concurrency 4) through the `segmind` provider in queue
mode against `veolab sim serve --prerendered 4 --latency L --jitter 0.3` (a subprocess on
127.0.0.1; nothing else is contacted). What each part checks, from four sources: the sim's
billing ledger (billed jobs by request_hash), veolab's ledger ($VEOLAB_HOME/ledger.db: claims and
payments, read with `Ledger.entries()` / `payments_of()`), the MLflow store (`search_runs`) and
the video store ($VEOLAB_HOME/store/segmind/veo-3.1/<hash>.mp4):

- duplicate billings: a request_hash billed more than once by the sim (0 expected);
- runs RUNNING: MLflow runs of the experiment still RUNNING once the last process ended (0);
- lost videos: billed by the sim, yet neither in the store nor a FINISHED MLflow generation, and
  not honestly reported either (0); honestly reported = a ledger claim in state `sending`
  (outcome unknown), `lost` or `corrupt`, or `submitted` with a job id once no process holds it
  (the run said "resume it later", `veolab plan` lists it as resume), listed separately;
- unknown outcomes reported: ledger claims in state `sending`, split into billed / not billed.

1. kill: N cycles. Cycle c writes a sweep of fresh seeds (c*100+1 .. c*100+6) into the one
   experiment `soak-kill` (one VEOLAB_HOME, one MLflow store, one sim for every cycle, so the
   state grows the way a long-lived project's does), starts `veolab run`, SIGKILLs it at a moment
   drawn from a seeded RNG (seconds after its first row in the payments table, i.e. its first
   submit about to go out: start-up under load takes 6-25 s and would otherwise decide where the
   kill lands), waits for the sim's jobs in flight to end, then runs the same file again to the
   end without --resubmit-unknown. At the end one run of a file holding every cycle's seeds with
   --resubmit-unknown pays for what was left unknown; paying again for an unknown the sim had in
   fact billed is what that flag asks for, so that double billing is counted apart.
2. faults: the sweep at --fault-rate 0.2 (random 500/502/504 or dropped connection on any API
   call; the sim's random faults all come before the job exists, so a lost submit answer here
   is never billed), run again until `veolab plan --json` shows nothing left to do (new, resume,
   cached and lost all 0; unknown needs --resubmit-unknown; at least two rounds) or the rounds
   run out; then, if unknowns remain, one round with --resubmit-unknown.
3. concurrency: two `veolab run` of the same sweep started together on fresh stores (new
   VEOLAB_HOME, new MLflow database, new sim), then two more on those now existing stores with
   new seeds in the same experiment.

Each part prints a table; the end prints a JSON summary (and writes it with --out). A finding
(double billing, RUNNING run, lost video, traceback, hang, unexpected exit code) is listed under
"defects" with what reproduces it, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from veolab.simserver import fetch_ledger, serve_in_subprocess
except ImportError:  # a tree from before the sim server became veolab.simserver (8fd9486)
    from veolab.providers.sim.server import (  # type: ignore[no-redef]
        fetch_ledger,
        serve_in_subprocess,
    )

KEY = "soak-key-not-secret"
PROVIDER, MODEL = "segmind", "veo-3.1"
POLL = (0.1, 0.25)
# `veolab run`'s summary: `NAME: 12 runs | generated 9, failed 1, skipped 2 | spend $14.40 | ...`
# (the non-zero counts; before 36949b4 every count, zeros too)
SUMMARY = re.compile(r"(\d+) runs \| (.*?) \| spend \$([\d.]+)")
COUNT_WORDS = {
    "generated": "generated",
    "already done": "already_done",
    "from store": "from_store",
    "failed": "failed",
    "failed checks": "failed_checks",
    "skipped": "skipped",
}
# billed (or maybe billed), output not in hand, and said so: the run reported it and `veolab plan`
# lists it (sending: unknown; lost/corrupt: lost; submitted with a job id once its process
# ended: resume, the next run fetches it by that id)
REPORTED = ("sending", "lost", "corrupt", "submitted")


def code_state() -> dict[str, Any]:
    """Which veolab ran: its folder and, in a git checkout, the commit and the files of the
    package that differ from it (others may be editing the same checkout: a figure belongs to
    the code that ran). For a fixed tree: ``git archive HEAD | tar -x -C DIR`` and
    ``PYTHONPATH=DIR``; the `veolab run` processes inherit it."""
    import veolab

    pkg = Path(veolab.__file__).resolve().parent
    out: dict[str, Any] = {"veolab": str(pkg)}
    if not (pkg.parent / ".git").exists():
        return out

    def git(*args: str) -> str:
        r = subprocess.run(
            ["git", *args], cwd=pkg.parent, capture_output=True, text=True, timeout=30
        )
        return r.stdout

    out["head"] = git("rev-parse", "--short", "HEAD").strip()
    out["uncommitted_in_veolab"] = [
        line[3:] for line in git("status", "--porcelain", "--", "veolab").splitlines()
    ]
    return out


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- a project: one VEOLAB_HOME, one MLflow store, its experiment files ----------------------


@dataclass
class Project:
    root: Path
    url: str = ""

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlruns' / 'mlflow.db'}"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "VEOLAB_LEDGER_URI")
        }
        env.update(
            VEOLAB_HOME=str(self.home),
            MLFLOW_TRACKING_URI=self.tracking_uri,
            SEGMIND_API_KEY=KEY,
            NO_PROXY="127.0.0.1,localhost",
        )
        return env

    def write(self, file: str, name: str, seeds: list[int], concurrency: int) -> Path:
        (self.root / "prompts").mkdir(parents=True, exist_ok=True)
        (self.root / "prompts" / "s.j2").write_text(
            "{{ subject }} on a {{ colour }} stage, {{ light }}"
        )
        path = self.root / file
        path.write_text(
            json.dumps(
                {
                    "name": name,
                    "template": "s.j2",
                    "vars": {
                        "subject": "a speaker",
                        "colour": ["red", "blue"],
                        "light": ["bright", "dim"],
                    },
                    "params": {"resolution": "720p", "duration": 4, "generate_audio": True},
                    "seeds": seeds,
                    "provider": {
                        "name": PROVIDER,
                        "mode": "queue",
                        "base_url": self.url,
                        "poll_interval": POLL[0],
                        "poll_max_interval": POLL[1],
                    },
                    "concurrency": concurrency,
                    "confirm_above": 1e9,
                    "max_runs": 100_000,
                },
                indent=1,
            )
        )
        return path


def plan_hashes(path: Path) -> list[str]:
    from veolab.experiment import load_experiment

    try:
        from veolab.runner import plan_experiment
    except ImportError:  # a tree from before plan_experiment (build_plan then took the file)
        from veolab.experiment import build_plan as plan_experiment  # type: ignore[assignment]

    return [r.request_hash for r in plan_experiment(load_experiment(path)).runs]


# -- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    args: list[str]
    rc: int | None
    wall: float
    stdout: str
    stderr: str
    killed_at: float | None = None  # seconds after the start, when this script SIGKILLed it
    hung: bool = False

    @property
    def summary(self) -> dict[str, Any] | None:
        """The counts of the run's one-line summary on stdout (None: it printed none)."""
        m = SUMMARY.search(self.stdout)
        if not m:
            return None
        out: dict[str, Any] = {"runs": int(m.group(1))} | dict.fromkeys(COUNT_WORDS.values(), 0)
        for part in m.group(2).split(", "):
            word, _, n = part.rpartition(" ")
            out[COUNT_WORDS[word]] = int(n)
        out["spend"] = float(m.group(3))
        return out

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr or "Traceback" in self.stdout


def spawn(proj: Project, file: Path, *flags: str, tag: str) -> tuple[subprocess.Popen, Path]:
    logs = proj.root / "logs"
    logs.mkdir(exist_ok=True)
    args = [sys.executable, "-m", "veolab", "run", str(file), "--yes", *flags]
    with open(logs / f"{tag}.out", "w") as out, open(logs / f"{tag}.err", "w") as err:
        p = subprocess.Popen(args, cwd=proj.root, env=proj.env(), stdout=out, stderr=err)
    return p, logs / tag


def finish(p: subprocess.Popen, log: Path, t0: float, timeout: float) -> Proc:
    """Wait for ``p``; past ``timeout`` seconds after ``t0`` it is SIGKILLed as hung."""
    hung = False
    while p.poll() is None and time.monotonic() < t0 + timeout:
        time.sleep(0.02)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        hung = True
    p.wait(30)
    return Proc(
        [str(x) for x in p.args],  # type: ignore[union-attr]
        p.returncode,
        round(time.monotonic() - t0, 2),
        log.with_suffix(".out").read_text(),
        log.with_suffix(".err").read_text(),
        round(time.monotonic() - t0, 3) if hung else None,
        hung,
    )


def payment_rows(home: Path) -> int:
    """Rows in the ledger's payments table (0 while it does not exist yet)."""
    try:
        db = sqlite3.connect(f"file:{home / 'ledger.db'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM payments").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def kill_after_first_payment(
    proj: Project, p: subprocess.Popen, t0: float, moment: float, timeout: float
) -> dict[str, Any]:
    """SIGKILL ``p`` ``moment`` seconds after its first payment row (its first submit about to
    be sent); the moments are measured from there, so a slow start-up under load does not
    decide where the kill lands."""
    base = payment_rows(proj.home)
    anchor = None
    while p.poll() is None and time.monotonic() < t0 + timeout:
        if anchor is None and payment_rows(proj.home) > base:
            anchor = time.monotonic()
        if anchor is not None and time.monotonic() >= anchor + moment:
            break
        time.sleep(0.02)
    out: dict[str, Any] = {"killed": p.poll() is None, "first_payment_s": None, "kill_s": None}
    if anchor is not None:
        out["first_payment_s"] = round(anchor - t0, 2)
    if out["killed"]:
        p.send_signal(signal.SIGKILL)
        out["kill_s"] = round(time.monotonic() - t0, 3)
    p.wait(30)
    return out


def run(proj: Project, file: Path, *flags: str, tag: str, timeout: float) -> Proc:
    t0 = time.monotonic()
    p, log = spawn(proj, file, *flags, tag=tag)
    return finish(p, log, t0, timeout)


def plan_totals(proj: Project, file: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "veolab", "plan", str(file), "--json"],
        cwd=proj.root,
        env=proj.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-500:]}
    return json.loads(out.stdout)["totals"]


def settle(url: str, limit: float = 60.0) -> None:
    """Wait until the sim holds no job in flight (a killed client's jobs end, billed, anyway)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and fetch_ledger(url)["held"] > 1e-9:
        time.sleep(0.2)


# -- the audit: sim ledger x veolab ledger x MLflow x video store --------------------------


def is_mp4(data: bytes) -> bool:
    """Top-level ISO-BMFF boxes that tile the file, starting with ftyp and holding moov and mdat
    (checked here, not with veolab's own check: the audit does not trust the code under test)."""
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1 and pos + 16 <= len(data):
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            size = len(data) - pos
        if size < 8 or pos + size > len(data):
            return False
        kinds.append(data[pos + 4 : pos + 8])
        pos += size
    return pos == len(data) and kinds[:1] == [b"ftyp"] and {b"moov", b"mdat"} <= set(kinds)


def mlflow_runs(uri: str, name: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return []
    out: list = []
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        out += list(page)
        token = page.token
        if not token:
            return out


def audit(proj: Project, name: str, hashes: list[str], billed_jobs: list[dict]) -> dict[str, Any]:
    from veolab.runner.ledger import Ledger
    from veolab.runner.status import run_key
    from veolab.tracking import schema as S

    mine = set(hashes)
    billed = Counter(j["request_hash"] for j in billed_jobs if j["request_hash"] in mine)
    keys = {h: run_key(PROVIDER, MODEL, h) for h in hashes}
    state: dict[str, str | None] = dict.fromkeys(hashes)
    payments: dict[str, list] = {h: [] for h in hashes}
    if (proj.home / "ledger.db").is_file():  # a kill at start-up can come before it exists
        ledger = Ledger(f"sqlite:///{proj.home / 'ledger.db'}")
        try:
            entries = ledger.entries(list(keys.values()))
            state = {h: entries[k].state if k in entries else None for h, k in keys.items()}
            # submitted without a job id cannot be resumed: it is not an honest report
            state = {
                h: "submitted-no-id" if s == "submitted" and not entries[keys[h]].job_id else s
                for h, s in state.items()
            }
            payments = {h: ledger.payments_of(k) for h, k in keys.items()}
        finally:
            ledger.close()
    runs = mlflow_runs(proj.tracking_uri, name)
    running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    gens = [r for r in runs if r.data.tags.get(S.KIND) == S.KIND_GENERATION]
    finished = Counter(r.data.tags.get(S.REQUEST_HASH) for r in gens if r.info.status == "FINISHED")
    store_dir = proj.home / "store" / PROVIDER / MODEL
    stored: list[str] = []
    corrupt_in_store: list[str] = []
    for h in mine:
        path = store_dir / f"{h}.mp4"
        if path.is_file():
            (stored if is_mp4(path.read_bytes()) else corrupt_in_store).append(h)
    lost: list[str] = []
    reported: Counter[str] = Counter()
    for h in billed:
        if h in stored or finished[h]:
            continue
        st = state[h]
        if st in REPORTED:
            reported[st or ""] += 1
        else:
            lost.append(h)
    unknown = [h for h in hashes if state[h] == "sending"]
    # a planned request with no video and no honest state (failed = refused, not billed): forgotten
    unaccounted = [
        h
        for h in hashes
        if not finished[h] and h not in stored and state[h] not in (*REPORTED, "failed")
    ]
    return {
        "planned": len(hashes),
        "billed_jobs": sum(billed.values()),
        "billed_requests": len(billed),
        "duplicate_billings": {h: n for h, n in billed.items() if n > 1},
        "payment_rows": sum(len(p) for p in payments.values()),
        "payments_not_billed": sum(
            1 for p in payments.values() for x in p if x["status"] == "not_billed"
        ),
        "ledger_states": dict(Counter(s or "none" for s in state.values())),
        "runs_running": running,
        "finished_generations": sum(1 for h in hashes if finished[h]),
        "duplicate_generations": {h: n for h, n in finished.items() if h in mine and n > 1},
        "failed_generation_runs": sum(1 for r in gens if r.info.status == "FAILED"),
        "stored_videos": len(stored),
        "stored_not_logged": sorted(h for h in stored if not finished[h]),
        "corrupt_in_store": corrupt_in_store,
        "lost_videos": lost,
        "reported_billed_without_video": dict(reported),
        "unknown": len(unknown),
        "unknown_billed": sum(1 for h in unknown if billed[h]),
        "unknown_not_billed": sum(1 for h in unknown if not billed[h]),
        "unaccounted": unaccounted,
        "_state": state,
        "_billed": billed,
        "_payments": payments,
        "_jobs": [j for j in billed_jobs if j["request_hash"] in mine],
    }


def evidence(a: dict[str, Any]) -> dict[str, Any]:
    """The rows behind a finding: ledger claim state, payments and the sim's billed jobs."""
    bad = set(a["duplicate_billings"]) | set(a["lost_videos"]) | set(a["unaccounted"])
    bad |= set(a["duplicate_generations"]) | set(a["stored_not_logged"])
    return {
        h: {
            "claim_state": a["_state"][h],
            "payments": a["_payments"][h],
            "sim_jobs": [
                {k: j[k] for k in ("request_id", "time_utc", "seed", "cost")}
                for j in a["_jobs"]
                if j["request_hash"] == h
            ],
        }
        for h in sorted(bad)
    }


def public(a: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if not k.startswith("_")}


def problems(a: dict[str, Any]) -> list[str]:
    """What the audit found that must not happen once the last process ended."""
    out = []
    if a["duplicate_billings"]:
        out.append(f"duplicate billings {a['duplicate_billings']}")
    if a["runs_running"]:
        out.append(f"runs RUNNING {a['runs_running']}")
    if a["lost_videos"]:
        out.append(f"lost videos {a['lost_videos']}")
    if a["duplicate_generations"]:
        out.append(f"generation logged twice {a['duplicate_generations']}")
    if a["corrupt_in_store"]:
        out.append(f"corrupt video in the store {a['corrupt_in_store']}")
    if a["stored_not_logged"]:
        out.append(f"video stored but no FINISHED generation {a['stored_not_logged']}")
    if a["unaccounted"]:
        out.append(f"planned runs neither done nor reported {a['unaccounted']}")
    return out


def proc_problems(proc: Proc, expect_rc: tuple[int, ...]) -> list[str]:
    out = []
    if proc.hung:
        out.append(f"hung: killed after {proc.killed_at} s")
    elif proc.rc not in expect_rc:
        out.append(f"exit {proc.rc} (expected {expect_rc}): {proc.stderr.strip()[-400:]}")
    if proc.traceback:
        out.append(f"traceback: {proc.stderr.strip()[-800:]}")
    return out


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def sim_options(latency: float, *extra: str) -> list[str]:
    return [
        "--api-key",
        KEY,
        "--latency",
        str(latency),
        "--jitter",
        "0.3",
        "--prerendered",
        "4",
        *extra,
    ]


# -- 1. kill cycles -------------------------------------------------------------------------


def part_kill(a: argparse.Namespace, tmp: Path, defects: list[dict]) -> dict[str, Any]:
    rng = random.Random(a.seed)
    proj = Project(tmp / "kill")
    name = "soak-kill"
    rows, cycles = [], []
    load0 = load()
    with serve_in_subprocess(*sim_options(a.latency)) as url:
        proj.url = url
        all_seeds: list[int] = []
        for c in range(a.cycles):
            seeds = [c * 100 + i for i in range(1, 7)]
            all_seeds += seeds
            file = proj.write(f"kill-{c}.yaml", name, seeds, a.concurrency)
            hashes = plan_hashes(file)
            moment = round(rng.uniform(a.kill_window[0], a.kill_window[1]), 3)
            t0 = time.monotonic()
            p, log = spawn(proj, file, tag=f"kill-{c}-killed")
            kill = kill_after_first_payment(proj, p, t0, moment, a.timeout)
            killed = finish(p, log, t0, a.timeout)
            settle(url)
            before = audit(proj, name, hashes, fetch_ledger(url)["jobs"])
            rerun = run(proj, file, tag=f"kill-{c}-rerun", timeout=a.timeout)
            settle(url)
            after = audit(proj, name, hashes, fetch_ledger(url)["jobs"])
            reported = after["unknown"] + sum(after["reported_billed_without_video"].values())
            found = problems(after) + proc_problems(rerun, (1,) if reported else (0,))
            if killed.traceback:
                found.append(f"traceback before the kill: {killed.stderr.strip()[-800:]}")
            if not kill["killed"] and killed.rc != 0:
                found.append(f"the run ended on its own with exit {killed.rc} before the kill")
            cycle = {
                "cycle": c,
                "seeds": seeds,
                "moment_after_first_payment_s": moment,
                **kill,
                "killed_process_exit": killed.rc,
                "at_kill": {
                    "billed": before["billed_jobs"],
                    "stored": before["stored_videos"],
                    "finished": before["finished_generations"],
                    "ledger_states": before["ledger_states"],
                    "runs_running": len(before["runs_running"]),
                },
                "rerun": {"exit": rerun.rc, "wall_s": rerun.wall, "summary": rerun.summary},
                "after": public(after),
                "problems": found,
            }
            cycles.append(cycle)
            if found:
                defects.append(
                    {
                        "part": "kill",
                        "cycle": c,
                        "seed": a.seed,
                        "moment_after_first_payment_s": moment,
                        **kill,
                        "command": " ".join(killed.args),
                        "problems": found,
                        "rows": evidence(after),
                        "store": str(proj.root),
                    }
                )
            s = rerun.summary or {}
            rows.append(
                [
                    c,
                    moment,
                    kill["first_payment_s"],
                    kill["kill_s"] if kill["killed"] else "ended first",
                    before["billed_jobs"],
                    before["stored_videos"],
                    len(before["runs_running"]),
                    "/".join(
                        str(s.get(k, "?")) for k in ("generated", "from_store", "already_done")
                    ),
                    rerun.rc,
                    after["billed_jobs"],
                    len(after["duplicate_billings"]),
                    len(after["runs_running"]),
                    len(after["lost_videos"]),
                    f"{after['unknown']} ({after['unknown_billed']} billed)",
                    after["finished_generations"],
                    "ok" if not found else "DEFECT",
                ]
            )
            print(
                f"cycle {c}: kill {moment} s after the first payment ({kill['kill_s']} s after "
                f"the start) -> rerun exit {rerun.rc}, "
                f"{'ok' if not found else found} (load {load()})",
                flush=True,
            )
        table(
            f"kill cycles (seed {a.seed}, latency {a.latency} s, moment drawn from "
            f"{a.kill_window} s after the first payment)",
            [
                "cycle",
                "moment",
                "1st pay s",
                "kill s",
                "billed@kill",
                "stored@kill",
                "RUNNING@kill",
                "rerun gen/store/done",
                "exit",
                "billed",
                "dup",
                "RUNNING",
                "lost",
                "unknown",
                "finished",
                "",
            ],
            rows,
        )
        # the whole experiment, then the one run that pays for what was left unknown
        total_file = proj.write("kill-all.yaml", name, all_seeds, a.concurrency)
        hashes = plan_hashes(total_file)
        jobs = fetch_ledger(url)["jobs"]
        end = audit(proj, name, hashes, jobs)
        billed_before = Counter(j["request_hash"] for j in jobs)
        final = run(proj, total_file, "--resubmit-unknown", tag="kill-resubmit", timeout=a.timeout)
        settle(url)
        jobs = fetch_ledger(url)["jobs"]
        after = audit(proj, name, hashes, jobs)
        paid_now = Counter(j["request_hash"] for j in jobs) - billed_before
        # paying again for an unknown that the sim had in fact billed is what the flag asks for
        repaid_billed = sorted(h for h in paid_now if billed_before[h])
        dup_unasked = {
            h: n for h, n in after["duplicate_billings"].items() if h not in repaid_billed
        }
        found = problems({**after, "duplicate_billings": dup_unasked}) + proc_problems(final, (0,))
        if found:
            defects.append(
                {
                    "part": "kill/resubmit-unknown",
                    "command": " ".join(final.args),
                    "problems": found,
                    "rows": evidence(after),
                    "store": str(proj.root),
                }
            )
    survived = sum(1 for c in cycles if not c["problems"])
    return {
        "seed": a.seed,
        "cycles": a.cycles,
        "cycles_killed": sum(1 for c in cycles if c["killed"]),
        "kills_with_jobs_in_flight": sum(
            1
            for c in cycles
            if c["at_kill"]["ledger_states"].get("sending", 0)
            or c["at_kill"]["ledger_states"].get("submitted", 0)
        ),
        "kills_during_a_submit": sum(
            1 for c in cycles if c["at_kill"]["ledger_states"].get("sending", 0)
        ),
        "cycles_survived": survived,
        "latency_s": a.latency,
        "kill_window_s": list(a.kill_window),
        "store": "one experiment soak-kill, one VEOLAB_HOME, MLflow store and sim for all "
        "cycles; fresh seeds per cycle",
        "before_resubmit": {
            "planned": end["planned"],
            "billed_jobs": end["billed_jobs"],
            "duplicate_billings": len(end["duplicate_billings"]),
            "runs_running": len(end["runs_running"]),
            "lost_videos": len(end["lost_videos"]),
            "unknown_reported": end["unknown"],
            "unknown_billed": end["unknown_billed"],
            "unknown_not_billed": end["unknown_not_billed"],
            "reported_billed_without_video": end["reported_billed_without_video"],
            "finished_generations": end["finished_generations"],
        },
        "resubmit_unknown": {
            "exit": final.rc,
            "wall_s": final.wall,
            "summary": final.summary,
            "paid_for": sum(paid_now.values()),
            "paid_again_after_a_billed_unknown": len(repaid_billed),
            "after": public(after) | {"duplicate_billings": len(after["duplicate_billings"])},
        },
        "cycle_details": cycles,
        "load_average_before": load0,
        "load_average_after": load(),
    }


# -- 2. random faults -----------------------------------------------------------------------


def part_faults(a: argparse.Namespace, tmp: Path, defects: list[dict]) -> dict[str, Any]:
    proj = Project(tmp / "faults")
    name = "soak-faults"
    rounds: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    load0 = load()
    opts = sim_options(a.latency, "--fault-rate", str(a.fault_rate), "--fault-seed", str(a.seed))
    with serve_in_subprocess(*opts) as url:
        proj.url = url
        file = proj.write("faults.yaml", name, list(range(1, 7)), a.concurrency)
        hashes = plan_hashes(file)
        for i in range(1, a.rounds + 2):
            # rounds without flags until nothing is left to do (at least two: the second shows
            # what a plain rerun does with what the first left); then, if submits were left
            # with an unknown outcome, one round that pays for them again
            last = rounds[-1] if rounds else None
            if last is not None and ((last["left_to_do"] == 0 and i > 2) or i > a.rounds):
                if last["flags"] or not last["after"]["unknown"]:
                    break
                flags: tuple[str, ...] = ("--resubmit-unknown",)
            elif i > a.rounds:
                break
            else:
                flags = ()
            proc = run(proj, file, *flags, tag=f"faults-{i}", timeout=a.timeout)
            settle(url)
            got = audit(proj, name, hashes, fetch_ledger(url)["jobs"])
            totals = plan_totals(proj, file)
            left = sum(totals.get(k, 0) for k in ("new", "resume", "cached", "lost"))
            found = problems(got) + proc_problems(proc, (0, 1))
            s = proc.summary or {}
            rounds.append(
                {
                    "round": i,
                    "flags": list(flags),
                    "exit": proc.rc,
                    "wall_s": proc.wall,
                    "summary": s,
                    "after": public(got),
                    "plan_totals": totals,
                    "left_to_do": left,
                    "problems": found,
                    "load_average": load(),
                }
            )
            lost = got["ledger_states"].get("lost", 0) + got["ledger_states"].get("corrupt", 0)
            rows.append(
                [
                    i,
                    " ".join(flags) or "-",
                    proc.rc,
                    s.get("generated", "?"),
                    s.get("failed", "?"),
                    s.get("skipped", "?"),
                    got["billed_jobs"],
                    len(got["duplicate_billings"]),
                    got["ledger_states"].get("failed", 0),
                    lost,
                    got["ledger_states"].get("submitted", 0),
                    f"{got['unknown']} ({got['unknown_billed']} billed)",
                    len(got["lost_videos"]),
                    len(got["runs_running"]),
                    got["finished_generations"],
                    left,
                ]
            )
            print(
                f"faults round {i} {' '.join(flags)}: exit {proc.rc}, left {left}, "
                f"{found or 'ok'} (load {load()})",
                flush=True,
            )
            if found:
                defects.append(
                    {
                        "part": "faults",
                        "round": i,
                        "fault_seed": a.seed,
                        "command": " ".join(proc.args),
                        "problems": found,
                        "rows": evidence(got),
                        "store": str(proj.root),
                    }
                )
        ledger = fetch_ledger(url)
    table(
        f"faults (--fault-rate {a.fault_rate}, --fault-seed {a.seed}, latency {a.latency} s)",
        [
            "round",
            "flag",
            "exit",
            "generated",
            "failed",
            "skipped",
            "billed",
            "dup",
            "failed(ledger)",
            "lost",
            "resume",
            "unknown",
            "lost videos",
            "RUNNING",
            "finished",
            "left",
        ],
        rows,
    )
    faults = Counter(
        f"{x['route']} {x['status'] if x['fault'] == 'status' else x['fault']}"
        for x in ledger["attempts"]
        if x["fault"]
    )
    return {
        "fault_rate": a.fault_rate,
        "fault_seed": a.seed,
        "latency_s": a.latency,
        "api_calls": len(ledger["attempts"]),
        "faults_injected": dict(sorted(faults.items())),
        "rounds": rounds,
        "final_finished_generations": rounds[-1]["after"]["finished_generations"] if rounds else 0,
        "billed_jobs": rounds[-1]["after"]["billed_jobs"] if rounds else 0,
        "duplicate_billings": len(rounds[-1]["after"]["duplicate_billings"]) if rounds else 0,
        "load_average_before": load0,
        "load_average_after": load(),
    }


# -- 3. two processes at once ---------------------------------------------------------------


def part_concurrency(a: argparse.Namespace, tmp: Path, defects: list[dict]) -> dict[str, Any]:
    proj = Project(tmp / "conc")
    name = "soak-concurrency"
    cases, rows = [], []
    load0 = load()
    with serve_in_subprocess(*sim_options(a.latency)) as url:
        proj.url = url
        for case, seeds in (("fresh", range(1, 7)), ("existing", range(7, 13))):
            file = proj.write(f"conc-{case}.yaml", name, list(seeds), a.concurrency)
            hashes = plan_hashes(file)
            existed = (proj.home / "ledger.db").is_file()
            t0 = time.monotonic()
            started = [spawn(proj, file, tag=f"conc-{case}-{k}") for k in (1, 2)]
            procs = [finish(p, log, t0, a.timeout) for p, log in started]
            settle(url)
            got = audit(proj, name, hashes, fetch_ledger(url)["jobs"])
            billed_per = Counter(got["_billed"][h] for h in hashes)
            found = problems(got)
            for p in procs:
                found += proc_problems(p, (0,))
            if billed_per != Counter({1: len(hashes)}):
                found.append(f"billed jobs per request {dict(billed_per)} (expected 1 each)")
            if got["finished_generations"] != len(hashes):
                found.append(
                    f"{got['finished_generations']} of {len(hashes)} requests have a FINISHED "
                    "generation"
                )
            sums = [p.summary or {} for p in procs]
            cases.append(
                {
                    "case": case,
                    "stores_existed": existed,
                    "exits": [p.rc for p in procs],
                    "walls_s": [p.wall for p in procs],
                    "summaries": sums,
                    "billed_jobs_per_request": dict(billed_per),
                    "generation_runs_per_request": dict(
                        Counter(
                            1
                            if h not in got["duplicate_generations"]
                            else got["duplicate_generations"][h]
                            for h in hashes
                        )
                    ),
                    "after": public(got),
                    "problems": found,
                }
            )
            rows.append(
                [
                    case,
                    "/".join(str(p.rc) for p in procs),
                    "/".join(str(s.get("generated", "?")) for s in sums),
                    "/".join(str(s.get("already_done", "?")) for s in sums),
                    got["billed_jobs"],
                    len(got["duplicate_billings"]),
                    got["finished_generations"],
                    len(got["duplicate_generations"]),
                    len(got["runs_running"]),
                    "ok" if not found else "DEFECT",
                ]
            )
            print(
                f"concurrency {case}: exits {[p.rc for p in procs]}, {found or 'ok'} "
                f"(load {load()})",
                flush=True,
            )
            if found:
                defects.append(
                    {
                        "part": "concurrency",
                        "case": case,
                        "command": " ".join(procs[0].args) + "  (twice, at once)",
                        "problems": found,
                        "rows": evidence(got),
                        "store": str(proj.root),
                    }
                )
    table(
        f"two processes at once ({len(hashes)} runs each, latency {a.latency} s)",
        [
            "stores",
            "exits",
            "generated",
            "done elsewhere",
            "billed",
            "dup",
            "finished",
            "logged twice",
            "RUNNING",
            "",
        ],
        rows,
    )
    return {"cases": cases, "load_average_before": load0, "load_average_after": load()}


PARTS = ("kill", "faults", "concurrency")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="3 kill cycles, at most 3 fault rounds")
    ap.add_argument("--only", choices=PARTS, action="append", help="run only these (repeatable)")
    ap.add_argument("--cycles", type=int, default=None, help="kill cycles (default 10, quick 3)")
    ap.add_argument("--rounds", type=int, default=None, help="fault rounds (default 5, quick 3)")
    ap.add_argument("--seed", type=int, default=9, help="seed of the kill moments and the faults")
    ap.add_argument("--latency", type=float, default=1.5, help="sim seconds per job")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument(
        "--kill-window",
        type=float,
        nargs=2,
        default=(0.0, 20.0),
        metavar=("FROM", "TO"),
        help="the kill moment is drawn from this range, seconds after the first payment",
    )
    ap.add_argument("--timeout", type=float, default=300.0, help="a run taking longer is a hang")
    ap.add_argument("--keep", action="store_true", help="keep the stores (their path is printed)")
    ap.add_argument("--out", type=Path, help="also write the JSON summary here")
    a = ap.parse_args()
    a.cycles = a.cycles if a.cycles is not None else (3 if a.quick else 10)
    a.rounds = a.rounds if a.rounds is not None else (3 if a.quick else 5)
    parts = a.only or list(PARTS)
    tmp = Path(tempfile.mkdtemp(prefix="veolab-soak-"))
    print(f"soak: {parts}, seed {a.seed}, stores in {tmp}, load {load()}", flush=True)
    defects: list[dict] = []
    out: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average_start": load(),
        "code_at_start": code_state(),
    }
    t0 = time.monotonic()
    try:
        if "kill" in parts:
            out["kill"] = part_kill(a, tmp, defects)
        if "faults" in parts:
            out["faults"] = part_faults(a, tmp, defects)
        if "concurrency" in parts:
            out["concurrency"] = part_concurrency(a, tmp, defects)
    finally:
        out["wall_s"] = round(time.monotonic() - t0, 1)
        out["load_average_end"] = load()
        out["code_at_end"] = code_state()
        out["defects"] = defects
        if not a.keep and not defects:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            out["stores"] = str(tmp)
    text = json.dumps(out, indent=2, default=str)
    brief = {k: v for k, v in out.items() if k not in ("kill", "faults", "concurrency")}
    if "kill" in out:
        k = out["kill"]
        brief["kill"] = {
            x: k[x] for x in ("cycles", "cycles_killed", "cycles_survived", "before_resubmit")
        }
        brief["kill"]["resubmit_unknown_paid_for"] = k["resubmit_unknown"]["paid_for"]
    if "faults" in out:
        f = out["faults"]
        brief["faults"] = {
            x: f[x]
            for x in (
                "api_calls",
                "faults_injected",
                "billed_jobs",
                "duplicate_billings",
                "final_finished_generations",
            )
        }
    if "concurrency" in out:
        brief["concurrency"] = [
            {
                x: c[x]
                for x in ("case", "exits", "billed_jobs_per_request", "generation_runs_per_request")
            }
            for c in out["concurrency"]["cases"]
        ]
    print("\n" + json.dumps(brief, indent=2, default=str))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
    sys.exit(1 if defects else 0)


if __name__ == "__main__":
    main()
