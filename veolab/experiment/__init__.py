"""Experiment files, prompt templates and the plan they expand into.

This stage validates and expands; it imports no provider and no analysis class. What it needs
of them (the provider's model and prices, the check thresholds) the runner resolves:
``veolab.runner.plan_experiment``.
"""

from veolab.experiment.plan import Plan, Pricing, RunSpec, build_plan
from veolab.experiment.schema import Experiment, load_experiment
from veolab.experiment.templates import PromptTemplates

__all__ = [
    "Experiment",
    "Plan",
    "Pricing",
    "PromptTemplates",
    "RunSpec",
    "build_plan",
    "load_experiment",
]
