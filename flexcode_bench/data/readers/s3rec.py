"""Reader for the S3-Rec sequence files (``Beauty.txt``: ``user item item ...``, one user per line).

Each line is already in chronological order and has no timestamps, so the file order *is* the
chronology (timestamps are NaN, ``has_timestamps`` is False). Ids must be integers; they are kept
as their canonical decimal strings (``"007"`` → ``"7"``) so the item table's ids match.

The optional item table is a TSV with a header whose first column is ``item_id``; every other
column becomes a text field (e.g. asin, keywords, attributes), empty cells become ``""``.
Malformed lines are quarantined and reading goes on; blank lines carry no record and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.data.raw import QuarantinedLine, RawDataset
from flexcode_bench.data.readers.text_lines import read_lines
from flexcode_bench.errors import DataFormatError

SEQUENCES_FORMAT = "one user per line, 'user item item ...' (integer ids separated by spaces)"
ITEMS_FORMAT = "a tab-separated table with a header row whose first column is 'item_id'"
_RESERVED_FIELDS = ("item", "original_id", "train_count", "text")


def read(files: dict[str, Path | None]) -> RawDataset:
    """Read ``files["sequences"]`` and the optional ``files["items"]`` into a :class:`RawDataset`."""
    sequences = files.get("sequences")
    if sequences is None:
        raise DataFormatError("the s3rec reader needs a sequences file", hint=f"expected {SEQUENCES_FORMAT}")
    quarantine: list[QuarantinedLine] = []
    interactions, n_lines = _read_sequences(Path(sequences), quarantine)
    table = files.get("items")
    if table is None:
        items = pd.DataFrame({"item": pd.Series(dtype=object)})
    else:
        items, n_table_lines = _read_items(Path(table), quarantine)
        n_lines += n_table_lines
    return RawDataset(
        interactions=interactions, items=items, has_timestamps=False, quarantine=quarantine, lines_read=n_lines
    )


def _canonical_int(token: str) -> str | None:
    # Plain ASCII digits only: int() would also accept "1_000", "+5" and non-ASCII digits.
    digits = token.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        return None
    return str(int(token))


def _read_sequences(path: Path, quarantine: list[QuarantinedLine]) -> tuple[pd.DataFrame, int]:
    lines = read_lines(path, SEQUENCES_FORMAT)
    users: list[str] = []
    items: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            quarantine.append(
                QuarantinedLine(str(path), lineno, "a user with no items (fewer than 2 tokens)", line[:500])
            )
            continue
        ids = [_canonical_int(t) for t in tokens]
        if None in ids:
            bad = tokens[ids.index(None)]
            quarantine.append(QuarantinedLine(str(path), lineno, f"non-integer token {bad[:50]!r}", line[:500]))
            continue
        users.extend([ids[0]] * (len(ids) - 1))  # type: ignore[list-item]
        items.extend(ids[1:])  # type: ignore[arg-type]
    if not users:
        mine = [q for q in quarantine if q.file == str(path)]
        first = f" (first: line {mine[0].line}: {mine[0].reason})" if mine else ""
        raise DataFormatError(f"{path} has no valid line in {len(lines)} lines{first}; expected {SEQUENCES_FORMAT}")
    frame = pd.DataFrame(
        {
            "user": pd.Series(users, dtype=object),
            "item": pd.Series(items, dtype=object),
            "timestamp": np.full(len(users), np.nan, dtype=np.float64),
        }
    )
    return frame, len(lines)


def _read_items(path: Path, quarantine: list[QuarantinedLine]) -> tuple[pd.DataFrame, int]:
    lines = read_lines(path, ITEMS_FORMAT)
    header = [name.strip() for name in lines[0].split("\t")]
    if header[0] != "item_id":
        raise DataFormatError(f"{path}, line 1: first column is {header[0]!r}, not 'item_id'; expected {ITEMS_FORMAT}")
    fields = header[1:]
    clashes = [f for f in fields if f in _RESERVED_FIELDS or f == "" or fields.count(f) > 1]
    if clashes:
        raise DataFormatError(
            f"{path}, line 1: column name(s) {sorted(set(clashes))} are empty, repeated or reserved "
            f"({', '.join(_RESERVED_FIELDS)}); expected {ITEMS_FORMAT}"
        )
    rows: list[list[str]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            reason = f"{len(cells)} tab-separated cells, header has {len(header)}"
            quarantine.append(QuarantinedLine(str(path), lineno, reason, line[:500]))
            continue
        item = _canonical_int(cells[0].strip())
        if item is None:
            quarantine.append(
                QuarantinedLine(str(path), lineno, f"item_id {cells[0][:50]!r} is not an integer", line[:500])
            )
            continue
        rows.append([item, *(c.strip() for c in cells[1:])])
    items = pd.DataFrame(rows, columns=["item", *fields], dtype=object)
    return items, len(lines)
