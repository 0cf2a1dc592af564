"""Per-user records: their contract (columns, dtypes, labels) and their summary, metrics.json."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from flexcode_bench.errors import DataFormatError
from flexcode_bench.evaluation.buckets import BUCKETS
from flexcode_bench.provenance import SCHEMA_VERSION
from flexcode_bench.results.layout import KEY_COLUMNS, SPLITS

METRIC_NAME = re.compile(r"^[A-Za-z_][\w.\-]*@\d+$")


def metric_columns(per_user: pd.DataFrame) -> list[str]:
    """The metric columns of a per-user frame, in stored order."""
    return [column for column in per_user.columns if column not in KEY_COLUMNS]


def summarise(per_user: pd.DataFrame) -> dict:
    """The content of metrics.json: per split, n_users, overall means and means by bucket."""
    frame = normalise_per_user(per_user, "per_user")
    metrics = metric_columns(frame)
    summary: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for split in SPLITS:
        summary[split] = _summarise_split(frame[frame["split"] == split], metrics)
    return summary


def _summarise_split(rows: pd.DataFrame, metrics: list[str]) -> dict:
    by_bucket = {}
    for bucket in BUCKETS:
        in_bucket = rows[rows["bucket"] == bucket]
        if len(in_bucket):
            by_bucket[bucket] = {"n_users": int(len(in_bucket)), **_means(in_bucket, metrics)}
    return {"n_users": int(len(rows)), "overall": _means(rows, metrics), "by_bucket": by_bucket}


def _means(rows: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    # An empty split has no mean; {} says so without writing NaN into JSON.
    return {metric: float(rows[metric].mean()) for metric in metrics} if len(rows) else {}


def normalise_per_user(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the per-user contract and return the frame with canonical column order and dtypes."""
    if not isinstance(frame, pd.DataFrame):
        raise DataFormatError(f"{source} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in KEY_COLUMNS if column not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{source} is missing column(s) {missing}",
            hint=f"per-user records need {list(KEY_COLUMNS)} + metric@k columns",
        )
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataFormatError(f"{source} has duplicated columns {duplicated}")
    metrics = metric_columns(frame)
    bad_names = [column for column in metrics if not isinstance(column, str) or not METRIC_NAME.match(column)]
    if bad_names:
        raise DataFormatError(
            f"{source} has columns {bad_names} that are neither key columns nor metric@k",
            hint="drop them or name metrics like 'ndcg@10'",
        )
    if not metrics:
        raise DataFormatError(f"{source} has no metric@k column")
    if frame.empty:
        raise DataFormatError(f"{source} has no rows")

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out["split"] = _labels(frame["split"], SPLITS, "split", source)
    out["user_id"] = _ids(frame["user_id"], "user_id", source)
    out["target_item"] = _ids(frame["target_item"], "target_item", source)
    out["rank"] = _ranks(frame["rank"], source)
    out["bucket"] = _labels(frame["bucket"], BUCKETS, "bucket", source)
    for metric in metrics:
        column = frame[metric]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise DataFormatError(f"{source} column {metric!r} must be float, got {column.dtype}")
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        if not np.isfinite(values).all():
            raise DataFormatError(
                f"{source} column {metric!r} has NaN or infinite values",
                hint="every user scores a number (0 for a miss)",
            )
        out[metric] = values
    if out.duplicated(["split", "user_id"]).any():
        raise DataFormatError(f"{source} has several rows for one (split, user_id)", hint="one row per user and split")
    return out


def _labels(column: pd.Series, allowed: tuple[str, ...], name: str, source: str) -> np.ndarray:
    unknown = set(column.unique()) - set(allowed)
    if unknown:
        raise DataFormatError(
            f"{source} column {name!r} has values {sorted(map(str, unknown))}", hint=f"allowed: {list(allowed)}"
        )
    return column.astype(str).to_numpy(dtype=object)


def _ids(column: pd.Series, name: str, source: str) -> np.ndarray:
    if not pd.api.types.is_integer_dtype(column) or column.isna().any():
        raise DataFormatError(f"{source} column {name!r} must hold integers without nulls, got {column.dtype}")
    return column.to_numpy(dtype="int64")


def _ranks(column: pd.Series, source: str) -> pd.api.extensions.ExtensionArray:
    if pd.api.types.is_float_dtype(column):
        present = column.dropna()
        if not (np.isfinite(present) & (present == np.round(present))).all():
            raise DataFormatError(f"{source} column 'rank' has fractional or infinite values")
    elif not pd.api.types.is_integer_dtype(column):
        raise DataFormatError(f"{source} column 'rank' must be Int64 (null when absent), got {column.dtype}")
    ranks = pd.array(column.to_numpy(dtype="float64", na_value=np.nan), dtype="Int64")
    if (ranks[~ranks.isna()] < 1).any():
        raise DataFormatError(f"{source} column 'rank' must be 1-based (>= 1) or null")
    return ranks
