"""Reports built only from run records on disk (never from logs); never imports torch.

``build_report`` reads ``results/`` into a :class:`Report`; ``flexcode_bench.reporting.render.render``
turns it into a table, Markdown, LaTeX, CSV or JSON; ``write_plots`` draws its figures (matplotlib
is imported only there).
"""

from flexcode_bench.reporting.plots import write_plots
from flexcode_bench.reporting.report import Report, build_report

__all__ = ["Report", "build_report", "write_plots"]
