"""Running a plan: what is already paid for, and the sweep that pays for the rest once."""

from veolab.runner.resolve import plan_experiment
from veolab.runner.status import PlanStatus, plan_status
from veolab.runner.sweep import RunOptions, RunOutcome, SweepResult, run_plan

__all__ = [
    "PlanStatus",
    "RunOptions",
    "RunOutcome",
    "SweepResult",
    "plan_experiment",
    "plan_status",
    "run_plan",
]
