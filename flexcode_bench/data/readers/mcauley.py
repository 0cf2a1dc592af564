"""Reader for the McAuley-lab Amazon 2014 files (``reviews_<Cat>_5.json.gz`` + ``meta_<Cat>.json.gz``).

Reviews are strict JSON lines: ``reviewerID`` → user, ``asin`` → item, ``unixReviewTime`` → timestamp.
Meta lines are *Python literal* dicts (single quotes), so they are parsed with :func:`ast.literal_eval`
(never ``eval``: the file comes from the internet), with :func:`json.loads` as a fallback for JSON lines.
Text fields: ``title``, ``brand``, ``categories`` (the list of lists flattened, unique in order,
joined by ", ") and ``price`` (``"$12.99"``; ``""`` when missing).

Malformed lines are quarantined and reading goes on. Blank lines carry no record and are skipped.
Meta lines whose leading ``asin`` belongs to no review are skipped unparsed: the meta file has ~10x
more products than the 5-core reviews, and ``literal_eval`` is the slow part.
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.data.raw import QuarantinedLine, RawDataset
from flexcode_bench.errors import DataFormatError

REVIEWS_FORMAT = "JSON lines with reviewerID, asin, unixReviewTime (gzip or plain text)"
META_FORMAT = "one Python-literal or JSON dict per line with asin and optional title, brand, categories, price"
TEXT_FIELDS = ("title", "brand", "categories", "price")

_GZIP_MAGIC = b"\x1f\x8b"
# The first key of every McAuley meta line is 'asin'; reading it without parsing lets irrelevant
# products be skipped. The value must be escape-free, so the match is exactly the parsed value.
_LEADING_ASIN = re.compile(rb"""^\s*\{\s*(['"])asin\1\s*:\s*(['"])([^'"\\]*)\2""")
_REVIEW_KEYS = ("reviewerID", "asin", "unixReviewTime")
_JSON = json.JSONDecoder()


def read(files: dict[str, Path | None]) -> RawDataset:
    """Read ``files["reviews"]`` and (when given) ``files["meta"]`` into a :class:`RawDataset`."""
    reviews = files.get("reviews")
    if reviews is None:
        raise DataFormatError("the mcauley-2014 reader needs a reviews file", hint=f"expected {REVIEWS_FORMAT}")
    quarantine: list[QuarantinedLine] = []
    interactions, n_review_lines = _read_reviews(Path(reviews), quarantine)
    meta = files.get("meta")
    n_meta_lines = 0
    if meta is None:
        items = pd.DataFrame({c: pd.Series(dtype=object) for c in ("item", *TEXT_FIELDS)})
    else:
        wanted = set(interactions["item"].tolist())
        items, n_meta_lines = _read_meta(Path(meta), wanted, quarantine)
    return RawDataset(
        interactions=interactions,
        items=items,
        has_timestamps=True,
        quarantine=quarantine,
        lines_read=n_review_lines + n_meta_lines,
    )


def _lines(path: Path, expected: str) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, line without newline), from gzip or plain text, streaming."""
    if not path.is_file():
        raise DataFormatError(f"{path} does not exist", hint=f"expected {expected}")
    with path.open("rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    lineno = 0
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                yield lineno, line.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataFormatError(
            f"{path} is truncated (gzip stream ended at line {lineno + 1}); delete it and download again",
            hint=f"{type(exc).__name__}: {exc}",
        ) from None


def _quarantined(path: Path, lineno: int, reason: str, line: bytes) -> QuarantinedLine:
    return QuarantinedLine(str(path), lineno, reason, line.decode("utf-8", errors="replace")[:500])


def _no_valid_lines(path: Path, n_lines: int, quarantine: list[QuarantinedLine], expected: str) -> DataFormatError:
    if n_lines == 0:
        return DataFormatError(f"{path} is empty; expected {expected}")
    mine = [q for q in quarantine if q.file == str(path)]
    first = f" (first: line {mine[0].line}: {mine[0].reason})" if mine else ""
    return DataFormatError(f"{path} has no valid line in {n_lines} lines{first}; expected {expected}")


def _review_problem(record: object) -> str | None:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for key in _REVIEW_KEYS:
        if key not in record:
            return f"missing key {key!r}"
    for key in ("reviewerID", "asin"):
        if not isinstance(record[key], str):
            return f"{key!r} must be a string, got {type(record[key]).__name__}"
    when = record["unixReviewTime"]
    if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when):
        return f"'unixReviewTime' must be a number, got {when!r}"[:200]
    return None


def _read_reviews(path: Path, quarantine: list[QuarantinedLine]) -> tuple[pd.DataFrame, int]:
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    n_lines = 0
    for n_lines, line in _lines(path, REVIEWS_FORMAT):
        if not line.strip():
            continue
        try:
            record = _JSON.decode(line.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            quarantine.append(_quarantined(path, n_lines, f"not valid JSON: {exc}", line))
            continue
        try:  # the common, well-formed case without per-key checks
            user, item, when = record["reviewerID"], record["asin"], record["unixReviewTime"]
            well_formed = type(user) is str and type(item) is str and type(when) in (int, float) and math.isfinite(when)
        except (KeyError, TypeError, IndexError):
            well_formed = False
        if not well_formed:
            quarantine.append(_quarantined(path, n_lines, _review_problem(record) or "malformed record", line))
            continue
        users.append(user)
        items.append(item)
        times.append(when)
    if not users:
        raise _no_valid_lines(path, n_lines, quarantine, REVIEWS_FORMAT)
    frame = pd.DataFrame(
        {
            "user": pd.Series(users, dtype=object),
            "item": pd.Series(items, dtype=object),
            "timestamp": np.asarray(times, dtype=np.float64),
        }
    )
    return frame, n_lines


def _parse_literal(text: str) -> tuple[object, str | None]:
    try:
        return ast.literal_eval(text), None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        literal_error = exc
    try:
        return json.loads(text), None
    except ValueError:
        pass
    reason = str(literal_error).splitlines()[0] if str(literal_error) else ""
    return None, f"not a Python literal or JSON dict ({type(literal_error).__name__}: {reason})"[:300]


def _categories(value: object) -> str | None:
    """Flatten McAuley's list of category paths; None when the value has the wrong shape."""
    if not isinstance(value, (list, tuple)):
        return None
    flat: list[str] = []
    for group in value:
        group = [group] if isinstance(group, str) else group
        if not isinstance(group, (list, tuple)) or not all(isinstance(c, str) for c in group):
            return None
        flat.extend(c.strip() for c in group if c.strip())
    return ", ".join(dict.fromkeys(flat))


def _meta_fields(record: object) -> tuple[str, dict[str, str]] | str:
    """The asin and text fields of one meta record, or the reason it is malformed."""
    if not isinstance(record, dict):
        return f"expected a dict, got {type(record).__name__}"
    asin = record.get("asin")
    if not isinstance(asin, str):
        return "missing key 'asin'" if asin is None else f"'asin' must be a string, got {type(asin).__name__}"
    fields = {}
    for key in ("title", "brand"):
        value = record.get(key, "")
        if not isinstance(value, str):
            return f"{key!r} must be a string, got {type(value).__name__}"
        fields[key] = value.strip()
    categories = _categories(record.get("categories", []))
    if categories is None:
        return "'categories' must be a list of lists of strings"
    fields["categories"] = categories
    price = record.get("price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float))):
        return f"'price' must be a number, got {type(price).__name__}"
    fields["price"] = f"${price:.2f}" if price is not None and math.isfinite(price) else ""
    return asin, fields


def _read_meta(path: Path, wanted: set[str], quarantine: list[QuarantinedLine]) -> tuple[pd.DataFrame, int]:
    rows: dict[str, dict[str, str]] = {}
    n_lines = n_records = 0
    for n_lines, line in _lines(path, META_FORMAT):
        if not line.strip():
            continue
        leading = _LEADING_ASIN.match(line)
        if leading is not None:
            asin = leading.group(3).decode("utf-8", errors="replace")
            if asin not in wanted or asin in rows:
                n_records += 1  # well-formed enough to name its product; not needed here
                continue
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            quarantine.append(_quarantined(path, n_lines, f"not valid UTF-8: {exc}", line))
            continue
        record, error = _parse_literal(text)
        parsed = _meta_fields(record) if error is None else error
        if isinstance(parsed, str):
            quarantine.append(_quarantined(path, n_lines, parsed, line))
            continue
        n_records += 1
        asin, fields = parsed
        if asin in wanted and asin not in rows:  # the first line of a product wins
            rows[asin] = fields
    if n_records == 0:
        raise _no_valid_lines(path, n_lines, quarantine, META_FORMAT)
    items = pd.DataFrame.from_dict(rows, orient="index", columns=list(TEXT_FIELDS)).astype(object)
    items.insert(0, "item", items.index.astype(object))
    return items.reset_index(drop=True), n_lines
