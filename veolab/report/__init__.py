"""The side-by-side HTML report of a comparison (``veolab report``).

    from veolab.report import write_report
    info = write_report("quickstart", "report.html")        # or a RunTable from load_runs(...)

``info`` names the page and its media folder (``path``, ``files_dir``) and counts what they hold.
"""

from veolab.report.build import ReportInfo, write_report

__all__ = ["ReportInfo", "write_report"]
