"""Reader for RecBole atomic files (``<name>.inter`` + ``<name>.item``): TSV with a ``name:type`` header.

``.inter`` needs ``user_id`` and ``item_id``; ``timestamp`` (float) is used when present, otherwise the
file order is the chronology. Other columns (e.g. rating) are ignored: every interaction counts.

``.item`` needs ``item_id``; every other column becomes a text field. RecBole's MovieLens fields are
renamed to the names our templates use (:data:`FIELD_RENAMES`): ``movie_title`` → ``title``,
``release_year`` → ``year``, ``class`` → ``genres``. ``class`` is a ``token_seq`` (space-separated genres),
so its tokens are joined by ", " to read like the ml-1m genres. Other fields keep their names.
Rows with the wrong number of cells or a non-numeric timestamp are quarantined; blank lines are skipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flexcode_bench.data.raw import QuarantinedLine, RawDataset
from flexcode_bench.data.readers.text_lines import read_lines
from flexcode_bench.errors import DataFormatError

FIELD_RENAMES = {"movie_title": "title", "release_year": "year", "class": "genres"}
_SPACE_SEPARATED_LISTS = ("genres",)
_RESERVED_FIELDS = ("item", "original_id", "train_count", "text")
INTER_FORMAT = "tab-separated, header 'user_id:token<TAB>item_id:token[<TAB>timestamp:float ...]'"
ITEM_FORMAT = "tab-separated, header 'item_id:token<TAB><field>:<type> ...'"


def read(files: dict[str, Path | None]) -> RawDataset:
    """Read ``files["inter"]`` and (when given) ``files["item"]`` into a :class:`RawDataset`."""
    inter = files.get("inter")
    if inter is None:
        raise DataFormatError("the recbole-atomic reader needs an .inter file", hint=f"expected {INTER_FORMAT}")
    quarantine: list[QuarantinedLine] = []
    table, n_lines = _read_atomic(Path(inter), ("user_id", "item_id"), INTER_FORMAT, quarantine)
    has_timestamps = "timestamp" in table.columns
    if has_timestamps:
        timestamps = pd.to_numeric(table["timestamp"].str.strip(), errors="coerce").astype("float64")
        bad = ~timestamps.abs().lt(float("inf"))  # NaN (unparsable or empty) and infinities
        for index in bad[bad].index:
            row = table.loc[index]
            quarantine.append(
                QuarantinedLine(
                    str(inter), int(row["_line"]), f"timestamp {row['timestamp'][:50]!r} is not a number", row["_text"]
                )
            )
        table, timestamps = table[~bad], timestamps[~bad]
        quarantine.sort(key=lambda q: q.line)  # cell-count and timestamp problems, back in file order
    else:
        timestamps = pd.Series(float("nan"), index=table.index, dtype="float64")
    if table.empty:
        raise DataFormatError(f"{inter} has no valid row in {n_lines} lines; expected {INTER_FORMAT}")
    interactions = pd.DataFrame(
        {
            "user": table["user_id"].str.strip().to_numpy(dtype=object),
            "item": table["item_id"].str.strip().to_numpy(dtype=object),
            "timestamp": timestamps.to_numpy(dtype="float64"),
        }
    )
    item_file = files.get("item")
    if item_file is None:
        items = pd.DataFrame({"item": pd.Series(dtype=object)})
    else:
        item_table, n_item_lines = _read_atomic(Path(item_file), ("item_id",), ITEM_FORMAT, quarantine)
        n_lines += n_item_lines
        items = _item_fields(item_table, Path(item_file))
    return RawDataset(
        interactions=interactions,
        items=items,
        has_timestamps=has_timestamps,
        quarantine=quarantine,
        lines_read=n_lines,
    )


def _item_fields(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    items = table.drop(columns=["_line", "_text"]).rename(columns={"item_id": "item", **FIELD_RENAMES})
    items["item"] = items["item"].str.strip()
    fields = list(items.columns[1:])
    clashes = sorted({f for f in fields if f in _RESERVED_FIELDS or fields.count(f) > 1})
    if clashes:
        raise DataFormatError(
            f"{path}, line 1: field name(s) {clashes} are repeated or reserved; expected {ITEM_FORMAT}"
        )
    for field in fields:
        items[field] = items[field].str.strip()
        if field in _SPACE_SEPARATED_LISTS:
            items[field] = items[field].str.split().str.join(", ")
    return items.reset_index(drop=True)


def _read_atomic(
    path: Path, required: tuple[str, ...], expected: str, quarantine: list[QuarantinedLine]
) -> tuple[pd.DataFrame, int]:
    """All cells as strings, plus ``_line`` (1-based) and ``_text`` (for quarantine) columns."""
    lines = pd.Series(read_lines(path, expected), dtype=object)
    if not lines.iloc[0].strip():
        raise DataFormatError(f"{path} is empty or has no header; expected {expected}")
    names = [cell.split(":", 1)[0].strip() for cell in lines.iloc[0].split("\t")]
    missing = [name for name in required if name not in names]
    if missing or len(set(names)) != len(names):
        problem = f"missing column(s) {missing}" if missing else "repeated column names"
        raise DataFormatError(f"{path}, line 1: {problem} in header {lines.iloc[0][:200]!r}; expected {expected}")
    body = lines.iloc[1:]
    body = body[body.str.strip() != ""]
    cells = body.str.split("\t")
    good = cells.str.len() == len(names)
    for index in good[~good].index:
        reason = f"{len(cells[index])} tab-separated cells, header has {len(names)}"
        quarantine.append(QuarantinedLine(str(path), int(index) + 1, reason, body[index][:500]))
    table = pd.DataFrame(cells[good].tolist(), columns=names, index=cells[good].index, dtype=object)
    if table.empty:
        table = pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    table["_line"] = table.index + 1
    table["_text"] = body[good].str.slice(0, 500)
    return table, len(lines)
