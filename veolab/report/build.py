"""``veolab report``: one self-contained HTML page per comparison, media beside it.

    info = write_report("quickstart", "report.html", by="var.lighting")
    info.files_dir
    # -> PosixPath('report_files')

The page (``templates/report.html.j2``: inline CSS and scripts, nothing from the network) shows
the A/B verdicts, the blind review's ranking when the experiment has votes (``veolab review``),
each group's prompt with the differences from the baseline highlighted and its metric and
check badges; then, seed by seed, each group's run of that seed side by side (video, contact
sheet, first/middle/last stills), the rows lined up across the groups, with one transport bar
per seed that plays, seeks, steps and loops its videos together (the player of ``veolab
review``, ``veolab/review/static/player.js``, inlined). When the groups cross two variables
the videos of a seed form a grid (``report/layout.py``). Then the compare table and the A/B
table (a comparison with too few runs for a verdict says so once and shows its differences
marked inconclusive). Media are copied from MLflow into ``<name>_files/<run id>/`` and linked
relatively, so the folder works offline once zipped. The page and its folder are also logged
to the sweep's parent run under ``report/``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from veolab.compare.render import diff_text, fmt, mean_ci_text, verdict_text
from veolab.compare.runs import RunTable
from veolab.compare.stats import HIGHER, LOWER, MIN_N, SAME, TOO_FEW, ABResult
from veolab.compare.table import (
    CompareResult,
    as_run_table,
    compare_runs,
    inconclusive,
    judgement,
)
from veolab.errors import ConfigError, VeolabError
from veolab.report.diff import prompt_diff
from veolab.report.layout import (
    LAYOUTS,
    MAX_GRID_COLUMNS,
    Grid,
    crossed_grid,
    player_assets,
    seed_rows,
)
from veolab.tracking import schema as S
from veolab.tracking.store import Tracker, existing_store

STILLS = ("first", "middle", "last")
MAX_PROMPTS = 3  # distinct prompts shown per group
MARKER = ".veolab-report"


@dataclass
class ReportInfo:
    path: Path
    files_dir: Path
    videos: int
    images: int
    logged_to: str | None = None
    warnings: list[str] = field(default_factory=list)


def _usd(x: float | None) -> str:
    return "–" if x is None else f"${x:.2f}"


def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("veolab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _copy_media(tracker: Tracker, run_id: str, dest: Path, warnings: list[str]) -> dict[str, Any]:
    """video.mp4, contact_sheet.jpg and the first/middle/last stills of one run, if logged."""
    names = set(tracker.artifact_names(run_id))
    got: dict[str, Any] = {"video": None, "sheet": None, "stills": []}
    with tempfile.TemporaryDirectory(prefix="veolab-report-") as tmp:
        for art, key in ((S.ART_VIDEO, "video"), (S.ART_CONTACT_SHEET, "sheet")):
            if art in names:
                src = tracker.download(run_id, art, Path(tmp))
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / art)
                got[key] = art
        if S.ART_THUMBNAILS in names:
            folder = tracker.download(run_id, S.ART_THUMBNAILS, Path(tmp))
            for name in STILLS:
                src = folder / f"{name}.jpg"
                if src.is_file():
                    (dest / S.ART_THUMBNAILS).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest / S.ART_THUMBNAILS / src.name)
                    got["stills"].append((name, f"{S.ART_THUMBNAILS}/{src.name}"))
    if got["video"] is None:
        warnings.append(f"run {run_id} has no {S.ART_VIDEO}")
    return got


def _prompt(tracker: Tracker, row: dict[str, Any]) -> str:
    text = row.get("params.prompt") or ""
    if row.get(f"params.{S.PARAM_PROMPT_TRUNCATED}") == "true":
        with tempfile.TemporaryDirectory(prefix="veolab-report-") as tmp:
            text = tracker.download(row["run_id"], S.ART_PROMPT, Path(tmp)).read_text().rstrip("\n")
    return text


def _val(row: dict[str, Any], metric: str) -> float | None:
    v = row.get(f"metrics.{metric}")
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _records(frame) -> list[dict[str, Any]]:
    """Rows as plain dicts: NaN becomes None, seeds become ints."""
    out = []
    for r in frame.to_dict("records"):
        r = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        if r.get("seed") is not None:
            r["seed"] = int(r["seed"])
        out.append(r)
    return out


def _context(
    table: RunTable,
    result: CompareResult,
    files_name: str,
    files_dir: Path,
    tracker: Tracker,
    warnings: list[str],
    grid: Grid | None = None,
) -> dict[str, Any]:
    frame = table.frame
    rows = {r["run_id"]: r for r in _records(frame)}
    base = result.group(result.baseline)
    base_prompt = _prompt(tracker, rows[base.run_ids[0]]) if base.run_ids else ""
    columns: list[dict[str, Any]] = []
    n_videos = n_images = 0
    verdict_rank = {HIGHER: 0, LOWER: 0, SAME: 1, TOO_FEW: 2}
    for g in result.groups:
        prompts: list[str] = []
        for rid in g.run_ids:
            p = _prompt(tracker, rows[rid])
            if p not in prompts:
                prompts.append(p)
        runs = []
        for rid in sorted(g.run_ids, key=lambda r: (rows[r]["seed"] is None, rows[r]["seed"] or 0)):
            row = rows[rid]
            media: dict[str, Any] = {"video": None, "sheet": None, "stills": []}
            if not row["failed"]:
                media = _copy_media(tracker, rid, files_dir / rid, warnings)
            prefix = f"{files_name}/{rid}/"
            n_videos += media["video"] is not None
            n_images += (media["sheet"] is not None) + len(media["stills"])
            failed_checks = row.get(f"tags.{S.FAILED_CHECKS}") or ""
            runs.append(
                {
                    "run_id": rid,
                    "seed": row["seed"],
                    "failed": bool(row["failed"]),
                    "error": row.get(f"tags.{S.ERROR_CLASS}") or "",
                    "error_message": row.get(f"tags.{S.ERROR_MESSAGE}") or "",
                    "checks_passed": row["checks_passed"],
                    "failed_checks": [c for c in failed_checks.split(",") if c],
                    "human_score": _val(row, S.HUMAN_SCORE),
                    "note": row.get(f"tags.{S.RATING_NOTE}") or "",
                    "repro_score": _val(row, S.REPRO_SCORE),
                    "metrics": [
                        (m, fmt(_val(row, m)))
                        for m in result.metrics
                        if m not in (S.HUMAN_SCORE, S.REPRO_SCORE)
                    ],
                    "video": prefix + media["video"] if media["video"] else None,
                    "sheet": prefix + media["sheet"] if media["sheet"] else None,
                    "stills": [(n, prefix + p) for n, p in media["stills"]],
                }
            )
        verdicts = sorted(result.verdicts(g.label), key=lambda a: verdict_rank.get(a.verdict, 3))
        few = sorted({(a.n_baseline, a.n_group) for a in verdicts if a.verdict == TOO_FEW})
        few_text = (
            " or ".join(f"n={nb} vs n={ng}" for nb, ng in few)
            + f", fewer than {MIN_N} runs a group: no verdict, so the differences below are "
            "inconclusive; add seeds"
        )
        columns.append(
            {
                "label": g.label,
                "is_baseline": g.label == result.baseline,
                "runs": g.runs,
                "failures": g.failures,
                "checks": f"{g.checks_passed}/{g.checks_total}" if g.checks_total else "–",
                "checks_ok": g.checks_total > 0 and g.checks_passed == g.checks_total,
                "prompts": [prompt_diff(base_prompt, p) for p in prompts[:MAX_PROMPTS]],
                "more_prompts": max(0, len(prompts) - MAX_PROMPTS),
                "summaries": [
                    (m, mean_ci_text(s.mean, s.lo, s.hi, s.n)) for m, s in g.summaries.items()
                ],
                "verdicts": [
                    {
                        "metric": a.metric,
                        "verdict": verdict_text(a),
                        "kind": _verdict_kind(a),
                        "diff": diff_text(a.unpaired.diff, a.unpaired.lo, a.unpaired.hi),
                    }
                    for a in verdicts
                ],
                "inconclusive": few_text if few else "",
                "runs_detail": runs,
            }
        )
    ab_rows = [
        {
            "group": a.group,
            "metric": a.metric,
            "diff": diff_text(a.unpaired.diff, a.unpaired.lo, a.unpaired.hi),
            "welch_p": fmt(a.unpaired.welch_p),
            "pairs": a.paired.n_pairs,
            "paired": diff_text(a.paired.diff, a.paired.lo, a.paired.hi),
            "p": fmt(a.paired.p_value),
            "verdict": verdict_text(a),
            "kind": _verdict_kind(a),
            "why": inconclusive(a) or "",
            "method": a.method,
        }
        for a in result.ab
    ]
    notes = list(result.notes)
    for c in columns:
        c["short"] = c["label"]  # the player's name for a group's video (wipe, mute, solo)
    if grid:
        for r, cells in enumerate(grid.cells):
            for k, i in enumerate(cells):
                columns[i]["short"] = f"{grid.rows[r]} · {grid.cols[k]}"
    by_seed = seed_rows([c["runs_detail"] for c in columns])
    player_js, player_css = player_assets()
    for a in result.ab:
        if a.verdict != TOO_FEW:  # said once per group, above its inconclusive differences
            notes += [n for n in a.notes if n not in notes]
    return {
        "title": f"{result.experiment}: {len(result.groups)} variants compared",
        "experiment": result.experiment,
        "by": result.by,
        "baseline": result.baseline,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sweeps": result.sweep_ids,
        "n_runs": len(frame),
        "metrics": result.metrics,
        "columns": columns,
        "grid": grid,
        "seed_rows": by_seed,
        "player_js": Markup(player_js),
        "player_css": Markup(player_css),
        "table": [
            {
                "label": g.label,
                "runs": g.runs,
                "failures": g.failures,
                "checks": f"{g.checks_passed}/{g.checks_total}" if g.checks_total else "–",
                # what a generation and a clip worth keeping cost (shown when any was paid)
                "spend": f"${g.spend:.2f}",
                "usable": g.usable,
                "per_generation": _usd(g.cost_per_generation),
                "per_usable": _usd(g.cost_per_usable),
                "cells": [
                    mean_ci_text(
                        g.summaries[m].mean, g.summaries[m].lo, g.summaries[m].hi, g.summaries[m].n
                    )
                    for m in result.metrics
                ],
            }
            for g in result.groups
        ],
        "ab": ab_rows,
        "paid": any(g.spend for g in result.groups),
        "ranking": _ranking(result.ranking),
        "notes": notes,
        "n_videos": n_videos,
        "n_images": n_images,
    }


def _ranking(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The review's ranking (``CompareResult.ranking``: the shape of ``GET /api/ranking``) as
    the report shows it, or None without votes."""
    if not payload:
        return None
    return {
        "votes": payload["votes"],
        "level": round(100 * payload.get("level", 0.95)),
        "reviewers": [(r["reviewer"], r["votes"]) for r in payload.get("reviewers", [])],
        "groups": [
            {
                "group": g["group"],
                "score": diff_text(g["score"], g["lo"], g["hi"]) if g["score"] is not None else "–",
                "wins": g["wins"],
                "losses": g["losses"],
                "ties": g["ties"],
                "both_bad": g["both_bad"],
                "n": g["n"],
            }
            for g in payload["groups"]
        ],
        "agreement": _agreement_text(payload.get("agreement") or {}),
    }


def _agreement_text(a: dict[str, Any]) -> str:
    if not a.get("pairs"):
        return "no pair was judged by two reviewers"
    text = (
        f"{round(100 * a['percent'])}% of {a['pairs']} comparisons of two votes on "
        f"{a['units']} pairs agree"
    )
    return text + (f", Krippendorff's alpha {a['alpha']:.2f}" if a.get("alpha") is not None else "")


def _verdict_kind(a: ABResult) -> str:
    """The CSS class of a verdict: better, worse, different (no better way), same, inconclusive."""
    if a.verdict == TOO_FEW:
        return "inconclusive"
    if a.verdict == SAME:
        return "same"
    return judgement(a.metric, a.verdict) or ""


def write_report(
    table: RunTable | str,
    out: Path | str,
    *,
    result: CompareResult | None = None,
    tracker: Tracker | None = None,
    tracking_uri: str | None = None,
    by: str = "variant",
    metrics: list[str] | None = None,
    baseline: str | None = None,
    all_sweeps: bool = False,
    log_to_mlflow: bool = True,
    layout: str = "auto",
) -> ReportInfo:
    """Write ``out`` (HTML) and ``<stem>_files/`` next to it; log both to the sweep run.

    Takes what ``veolab report`` takes: ``table`` is an experiment name or a sweep's parent
    run id (read from ``tracker``, else ``tracking_uri``, else MLFLOW_TRACKING_URI, else
    sqlite:///mlruns/mlflow.db) or a :class:`RunTable` from ``load_runs``; ``by``, ``metrics``,
    ``baseline`` and ``all_sweeps`` are the options of the same names, unless ``result`` is a
    comparison already made. ``layout``: ``"auto"`` (a grid when the groups cross two
    variables, else one column per group), ``"columns"`` or ``"grid"``.
    """
    out = Path(out)
    if layout not in LAYOUTS:
        raise ConfigError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"-o {out}: the report is HTML, give a name ending in .html")
    tracker = tracker or existing_store(tracking_uri)
    table = as_run_table(table, tracker=tracker, all_sweeps=all_sweeps)
    result = result or compare_runs(table, by=by, metrics=metrics, baseline=baseline)
    grid = crossed_grid(table, result) if layout != "columns" else None
    if layout == "grid" and grid is None:
        raise ConfigError(
            f"layout grid: {len(result.groups)} groups that do not cross two variables (a grid "
            f"needs every pair of their values once, at most {MAX_GRID_COLUMNS} across): use "
            "the auto or columns layout"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    files_name = f"{out.stem}_files"
    files_dir = out.parent / files_name
    marker = files_dir / MARKER
    if files_dir.exists():
        if not marker.is_file():
            raise ConfigError(
                f"{files_dir} exists and is not a veolab report folder: "
                "choose another -o name or move the folder"
            )
        shutil.rmtree(files_dir)  # our own folder from an earlier report of the same name
    files_dir.mkdir(parents=True)
    marker.write_text("media of a veolab report; rewritten by the next `veolab report`\n")
    warnings: list[str] = []
    ctx = _context(table, result, files_name, files_dir, tracker, warnings, grid)
    try:
        html = _env().get_template("report.html.j2").render(**ctx)
    except Exception as exc:  # noqa: BLE001 - a template bug must not reach the user as a traceback
        raise VeolabError(f"the report template failed: {type(exc).__name__}: {exc}") from exc
    from veolab._fs import atomic_write_text

    atomic_write_text(out, html)
    out.chmod(0o644)  # a page to share, not a private temporary file
    info = ReportInfo(out, files_dir, ctx["n_videos"], ctx["n_images"], warnings=warnings)
    sweep = table.latest_sweep_id
    if log_to_mlflow and sweep:
        tracker.log_artifact(sweep, out, S.ART_REPORT)
        if files_dir.is_dir():
            tracker.log_artifacts(sweep, files_dir, f"{S.ART_REPORT}/{files_name}")
        info.logged_to = sweep
    return info


__all__ = ["ReportInfo", "write_report"]
