"""The side-by-side HTML report of a comparison (``veolab report``).

    from veolab.compare import load_runs
    from veolab.report import write_report
    info = write_report(load_runs("quickstart"), "report.html")

``info`` names the page and its media folder (``path``, ``files_dir``) and counts what they hold.
"""

from veolab.report.build import ReportInfo, write_report

__all__ = ["ReportInfo", "write_report"]
