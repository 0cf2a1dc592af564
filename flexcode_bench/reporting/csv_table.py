"""A tidy CSV: one row per dataset × model × metric × bucket, with the comparison against the baseline.

Columns: dataset, split, model, metric, bucket ("overall" or a popularity bucket), mean, std,
n_seeds, baseline, then for compared cells abs_diff, rel_diff, ci_low, ci_high, effect_size, wins,
ties, losses, p, p_adj and significant (empty for the baseline itself). With seeds compared one by
one, p and p_adj are the largest over seeds and significant means "in every seed"; the per-seed
details are in the JSON output.
"""

from __future__ import annotations

import pandas as pd

from flexcode_bench.reporting.report import Report

COLUMNS = [
    "dataset", "split", "model", "metric", "bucket", "mean", "std", "n_seeds", "baseline",
    "abs_diff", "rel_diff", "ci_low", "ci_high", "effect_size", "wins", "ties", "losses", "p", "p_adj", "significant",
]  # fmt: skip
_DETAIL = ("abs_diff", "rel_diff", "ci_low", "ci_high", "effect_size", "wins", "ties", "losses")


def to_dataframe(report: Report) -> pd.DataFrame:
    """The tidy frame behind :func:`to_csv`."""
    records = []
    for dataset in report.datasets():
        for row in report.rows_for(dataset):
            for bucket, metric in report.columns(dataset):
                cell = row.cell(metric, bucket)
                if cell is None:
                    continue
                record = {
                    "dataset": dataset, "split": report.split, "model": row.model, "metric": metric,
                    "bucket": bucket or "overall", "mean": cell.mean, "std": cell.std, "n_seeds": cell.n_seeds,
                    "baseline": report.settings.baseline,
                }  # fmt: skip
                found = report.comparisons_for(dataset, row.model, metric, bucket)
                if len(found) == 1:  # seeds pooled: the comparison is the cell's
                    record.update({name: getattr(found[0], name) for name in _DETAIL})
                if found:
                    record["p"] = max(c.p_value for c in found)
                    record["p_adj"] = max(c.p_adjusted for c in found)
                    record["significant"] = report.significant(dataset, row.model, metric, bucket)
                records.append(record)
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame["significant"] = frame["significant"].astype("boolean")
    for name in ("wins", "ties", "losses"):
        frame[name] = frame[name].astype("Int64")
    return frame


def to_csv(report: Report) -> str:
    return to_dataframe(report).to_csv(index=False)
