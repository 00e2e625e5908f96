"""``veolab plan``: every run of an experiment, its status and cost, and (``--prompts``) the
exact text each variant sends, with its words' differences from the baseline variant.

On a terminal, inserted words are bold green and deleted ones red and struck through; piped or
redirected, they read ``[+inserted+]`` and ``[-deleted-]``, so the marks survive ``less``,
``grep`` and a pasted issue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from veolab.cli.common import handle_errors
from veolab.cli.planning import existing_tracker, load_plan, plan_status_of

# more variants than this print a line saying so (--json lists every run)
MAX_VARIANTS = 100


# what a person reads for a status: the words `veolab run` counts with (JSON keeps the value)
SHOWN = {"done": "already done", "cached": "from store"}


def _plan_rows(plan, status) -> list[dict]:
    return [
        {
            "index": r.index,
            "variant": r.variant_id,
            "label": r.variant_label,
            "swept": r.swept,
            "seed": r.seed,
            "provider": r.provider or plan.provider,
            "model": r.model or plan.model,
            "estimated_cost": r.estimated_cost,
            "status": status.status[r.index],
            "request_hash": r.request_hash,
            "prompt": r.request.prompt,
            "negative_prompt": r.request.negative_prompt,
        }
        for r in plan.runs
    ]


def _totals(plan, status, concurrency: int | None = None) -> dict:
    to_pay = status.to_pay(plan)
    return {
        "runs": len(plan.runs),
        "new": status.count("new"),
        "already_done": status.count("done"),
        "cached": status.count("cached"),
        "resume": status.count("resume"),
        "lost": status.count("lost"),
        "unknown": status.count("unknown"),
        "busy": status.count("busy"),
        "lost_billed": round(
            sum(r.estimated_cost for r in plan.runs if status.status[r.index] == "lost"), 4
        ),
        "spent": status.spent,
        "to_pay": len(to_pay) if plan.paid else 0,
        "estimated_spend": plan.estimated_spend(to_pay),
        "estimated_seconds": plan.estimated_seconds(
            len(to_pay) + status.count("resume"), concurrency
        ),
        "provider": plan.provider,
        "model": plan.model,
        # each (host, model): its runs and what it would pay, priced from its own table
        "hosts": [
            {
                "provider": h[0],
                "model": h[1],
                "runs": sum(1 for r in plan.runs if (r.provider, r.model) == h),
                "estimated_spend": plan.estimated_spend(
                    [r for r in to_pay if (r.provider, r.model) == h]
                ),
            }
            for h in plan.hosts()
        ],
        "unsupported": [
            {"provider": u.provider, "model": u.model, "cell": u.label, "problems": u.problems}
            for u in plan.unsupported
        ],
    }


def _print_plan(plan, status, totals: dict, limit: int = 200) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    exp = plan.experiment
    table = Table(title=f"{exp.name}: {len(plan.runs)} runs on {plan.describe_hosts()}")
    table.add_column("#", justify="right")
    hosts = len(plan.hosts()) > 1
    if hosts:
        table.add_column("host")
    table.add_column("variant")
    table.add_column("label")
    table.add_column("seed", justify="right")
    table.add_column("est. cost", justify="right")
    table.add_column("status")
    for r in plan.runs[:limit]:
        table.add_row(
            str(r.index),
            *([f"{r.provider} {r.model}"] if hosts else []),
            r.variant_id,
            r.variant_label,
            str(r.seed),
            f"${r.estimated_cost:.2f}",
            SHOWN.get(status.status[r.index], status.status[r.index]),
        )
    console.print(table)
    if len(plan.runs) > limit:
        console.print(f"... and {len(plan.runs) - limit} more runs (--json lists them all)")
    _print_totals(console, plan, status, totals)


def _print_totals(console, plan, status, totals: dict) -> None:
    from rich.text import Text

    _hanging(
        console,
        Text(""),
        Text(
            f"runs {totals['runs']}: new {totals['new']}, already done {totals['already_done']}, "
            f"from store {totals['cached']}, resume {totals['resume']}, "
            f"unknown {totals['unknown']} | "
            f"to pay {totals['to_pay']}, estimated ${totals['estimated_spend']:.2f}, "
            f"about {_duration(totals['estimated_seconds'])}"
        ),
    )
    if len(totals["hosts"]) > 1 and plan.paid:  # each priced from its own host's table
        for h in totals["hosts"]:
            console.print(
                f"  {h['provider']} {h['model']}: {h['runs']} runs, "
                f"to pay estimated ${h['estimated_spend']:.2f}"
            )
    if totals["lost"]:
        console.print(
            f"billed, output not obtained: {totals['lost']} runs, ${totals['lost_billed']:.2f} "
            "already billed (fetched again by job id; --repay-lost pays again)"
        )
    if totals["busy"]:
        console.print(f"in progress in another process: {totals['busy']} runs")
    warning = _budget_warning(plan, status, totals)
    if warning:
        console.print(warning)


def _budget_warning(plan, status, totals: dict) -> str | None:
    """Say how many runs the experiment's budget will skip, counting what was spent before."""
    limit = plan.experiment.budget
    if limit is None or not plan.paid:
        return None
    room = limit - status.spent
    fit = 0
    for r in status.to_pay(plan):
        if r.estimated_cost > room + 1e-9:
            break
        room -= r.estimated_cost
        fit += 1
    skipped = totals["to_pay"] - fit
    if not skipped:
        return None
    return (
        f"warning: budget ${limit:.2f}: ${status.spent:.2f} spent or reserved; {skipped} of "
        f"{totals['to_pay']} runs to pay would be skipped (raise budget: in the experiment file)"
    )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


# --- --prompts ---------------------------------------------------------------------------------


@dataclass
class VariantPrompt:
    """A variant's prompt and negative prompt, and its runs (one per seed).

    The seeds of a variant share one prompt: templates do not see the seed, and the variant id
    hashes the rendered prompt, so another prompt is another variant.
    """

    variant_id: str
    label: str
    name: str | None
    prompt: str
    negative_prompt: str | None
    runs: list[Any] = field(default_factory=list)  # RunSpec


def variant_prompts(plan) -> list[VariantPrompt]:
    """The plan's variants in order, each with its prompt and runs."""
    out: dict[str, VariantPrompt] = {}
    for r in plan.runs:
        v = out.get(r.variant_id)
        if v is None:
            v = out[r.variant_id] = VariantPrompt(
                r.variant_id,
                r.variant_label,
                r.variant_name,
                r.request.prompt,
                r.request.negative_prompt,
            )
        v.runs.append(r)
    return list(out.values())


def _baseline(variants: list[VariantPrompt], wanted: str | None) -> VariantPrompt:
    if wanted is None:
        return variants[0]
    for v in variants:
        if wanted in (v.variant_id, v.name, v.label):
            return v
    from veolab.errors import ConfigError

    known = "; ".join(f"{v.variant_id}: {v.label}" for v in variants[:20])
    raise ConfigError(
        f"--baseline {wanted!r} is no variant of this plan: give an id, name or label ({known})"
    )


def _marked(segments: list[tuple[str, str]], markers: bool):
    """The diff as rich Text: styled on a terminal, [+...+] / [-...-] otherwise."""
    from rich.text import Text

    text = Text()
    prev = ""
    for kind, chunk in segments:
        if kind != "same" and prev in ("ins", "del"):
            text.append(" ")  # "[-old-] [+new+]": the two sides apart
        if kind == "same":
            text.append(chunk)
        elif markers:
            text.append(f"[+{chunk}+]" if kind == "ins" else f"[-{chunk}-]")
        else:
            text.append(chunk, style="bold green" if kind == "ins" else "red strike")
        prev = kind
    return text


def _field(console, key: str, text, indent: int = 12) -> None:
    """``  key       text``, the text wrapped to the console with a hanging indent."""
    from rich.text import Text

    _hanging(console, Text(f"  {key:<{indent - 4}}  "), text)


def _hanging(console, head, text) -> None:
    """``head`` then ``text``, wrapped to the console, each further line indented to line up."""
    from rich.text import Text

    indent = head.cell_len
    lines = text.wrap(console, max(20, console.width - indent))
    for i, line in enumerate(lines):
        line.rstrip()
        console.print((head if i == 0 else Text(" " * indent)) + line, soft_wrap=True)


def _print_prompts(plan, status, totals: dict, baseline: str | None) -> None:
    from rich.console import Console
    from rich.text import Text

    from veolab.report.diff import prompt_diff

    console = Console()
    markers = not console.is_terminal or console.no_color or console.color_system is None
    variants = variant_prompts(plan)
    base = _baseline(variants, baseline)
    base_prompt, base_negative = base.prompt, base.negative_prompt or ""
    exp = plan.experiment
    how = (
        "[+inserted+] and [-deleted-] words"
        if markers
        else "inserted words in green, deleted ones struck through in red"
    )
    _hanging(
        console,
        Text(""),
        Text(
            f"{exp.name}: {len(plan.runs)} runs, {len(variants)} variants on "
            f"{plan.describe_hosts()}; {how} against the baseline {base.variant_id}"
        ),
    )
    for v in variants[:MAX_VARIANTS]:
        console.print()
        label = Text(v.label, style="bold")
        if v is base:
            label.append(" (baseline)")
        _hanging(console, Text(f"{v.variant_id} ", style="bold"), label)
        seeds = ", ".join(str(r.seed) for r in v.runs)
        states: dict[str, int] = {}
        for r in v.runs:
            states[status.status[r.index]] = states.get(status.status[r.index], 0) + 1
        cost = sum(r.estimated_cost for r in v.runs)
        summary = ", ".join(f"{s} {n}" for s, n in states.items())
        _field(console, "seeds", Text(f"{seeds} (est. ${cost:.2f}; {summary})"))
        for key, text, against in (
            ("prompt", v.prompt, base_prompt),
            ("negative", v.negative_prompt or "", base_negative),
        ):
            if v is base or not (text or against):
                shown = Text(text or "–")
            else:
                shown = _marked(prompt_diff(against, text), markers)
            _field(console, key, shown)
    if len(variants) > MAX_VARIANTS:
        console.print(
            f"... and {len(variants) - MAX_VARIANTS} more variants (--json lists every prompt)"
        )
    console.print()
    _print_totals(console, plan, status, totals)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--provider", default=None, help="Override the experiment's provider(s): one for every run."
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="Drop the grid cells their host cannot make (4k where it is not offered...) instead "
    "of refusing the plan; each is said.",
)
@click.option(
    "--model", default=None, help="Override the experiment's model(s): one model for every run."
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse a plan of more runs than this (default: the file's max_runs, 10000).",
)
@click.option(
    "--tracking-uri", default=None, help="MLflow store (default sqlite:///mlruns/mlflow.db)."
)
@click.option(
    "--prompts",
    is_flag=True,
    help="Print each variant's rendered prompt and negative prompt, marked against the baseline.",
)
@click.option(
    "--baseline",
    default=None,
    help="With --prompts: the variant to mark the others against (id, name or label); "
    "default the first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan, prompts included, as JSON.")
@handle_errors
def plan(
    file: Path,
    provider: str | None,
    skip_unsupported: bool,
    model: str | None,
    max_runs: int | None,
    tracking_uri: str | None,
    prompts: bool,
    baseline: str | None,
    as_json: bool,
) -> None:
    """Show every run of an experiment FILE: variant, seed, cost and status. No network calls.

    --prompts shows the exact text each variant sends instead of the table: check it before
    paying for a clip.
    """
    if baseline is not None and not prompts:
        from veolab.errors import ConfigError

        raise ConfigError("--baseline marks prompts: pass it with --prompts")
    p = load_plan(file, provider, max_runs, skip_unsupported, model)
    status = plan_status_of(p, existing_tracker(tracking_uri), force=False)
    totals = _totals(p, status)
    if as_json:
        click.echo(
            json.dumps(
                {"experiment": p.experiment.name, "runs": _plan_rows(p, status), "totals": totals},
                indent=2,
                default=str,
            )
        )
        return
    if prompts:
        _print_prompts(p, status, totals, baseline)
    else:
        _print_plan(p, status, totals)
