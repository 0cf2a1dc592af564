"""What every reader returns: interactions and item fields in source order, plus quarantined lines.

Readers never drop or reorder valid rows (preprocessing does that, and counts it); they only parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class QuarantinedLine:
    """A malformed input line, kept so the user can inspect it."""

    file: str
    line: int  # 1-based line number in the (decompressed) file
    reason: str
    text: str  # the raw line, truncated to 500 characters


@dataclass
class RawDataset:
    """Reader output.

    ``interactions`` has columns ``user`` (str), ``item`` (str) and ``timestamp`` (float64, NaN when the
    source has none), in source-file order: that order breaks timestamp ties (stable sort) and is the
    chronology itself when there are no timestamps.
    ``items`` has a ``item`` (str) column plus one string column per text field (e.g. title, brand,
    categories, price); missing values are empty strings. It may list items that have no
    interactions and may lack items that do.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame
    has_timestamps: bool
    quarantine: list[QuarantinedLine] = field(default_factory=list)
    lines_read: int = 0  # input lines seen by the reader (for the malformed-line summary)
