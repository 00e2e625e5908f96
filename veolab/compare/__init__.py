"""Compare the variants of an experiment: load runs from MLflow, group, summarise, A/B test.

    from veolab.compare import compare_runs, load_runs
    result = compare_runs("quickstart", by="var.lighting", metrics=["motion"])
    result.to_dict()        # the JSON of `veolab compare --json`
    compare_runs(load_runs("quickstart"))       # or a table already loaded

``runs`` loads the table, ``stats`` holds the statistics, ``table`` groups and compares,
``render`` prints the tables, fitted to the width by ``layout``.
"""

from veolab.compare.runs import RunTable, load_runs, resolve_target
from veolab.compare.table import DEFAULT_METRICS, CompareResult, Group, compare_runs

__all__ = [
    "DEFAULT_METRICS",
    "CompareResult",
    "Group",
    "RunTable",
    "compare_runs",
    "load_runs",
    "resolve_target",
]
