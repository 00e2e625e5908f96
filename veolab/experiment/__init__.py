"""Experiment files, prompt templates and the plan they expand into."""

from veolab.experiment.plan import Plan, RunSpec, build_plan
from veolab.experiment.schema import Experiment, load_experiment
from veolab.experiment.templates import PromptTemplates

__all__ = ["Experiment", "Plan", "PromptTemplates", "RunSpec", "build_plan", "load_experiment"]
