"""Item text from a template such as ``"title: {title}; brand: {brand}; price: {price}"``.

The template is split on ``"; "`` into segments. A segment whose placeholders are all empty is dropped,
so an item without a brand reads ``"title: X; price: $3.00"`` rather than ``"title: X; brand: ; price: $3.00"``;
the kept segments are joined by ``"; "``. A segment without placeholders is always kept. Placeholders are
plain field names (an optional format spec or ``!s``/``!r`` conversion is applied as ``str.format`` would);
templates are parsed with :class:`string.Formatter`, never evaluated.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flexcode_bench.errors import ConfigError

SEPARATOR = "; "

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class _Piece:
    literal: str
    field: str | None
    conversion: str | None
    spec: str


def _parse_segment(template: str, segment: str) -> list[_Piece]:
    try:
        parsed = list(_FORMATTER.parse(segment))
    except ValueError as exc:
        raise ConfigError(f"item-text template {template!r} is not a valid format string: {exc}") from None
    pieces = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (not field.isidentifier()):
            # Positional ({}), indexed ({a[0]}) and attribute ({a.b}) fields would reach into Python objects.
            raise ConfigError(
                f"item-text template {template!r}: placeholder {{{field}}} is not a plain field name",
                hint="write placeholders as {title}, {brand}, ...",
            )
        if spec and "{" in spec:
            raise ConfigError(
                f"item-text template {template!r}: nested placeholders in a format spec are not supported"
            )
        pieces.append(_Piece(literal, field, conversion, spec or ""))
    return pieces


def _segments(template: str) -> list[list[_Piece]]:
    return [_parse_segment(template, segment) for segment in template.split(SEPARATOR)]


def template_fields(template: str) -> list[str]:
    """The placeholders of ``template``, unique, in order of appearance."""
    fields: dict[str, None] = {}
    for pieces in _segments(template):
        for piece in pieces:
            if piece.field is not None:
                fields[piece.field] = None
    return list(fields)


def check_template(template: str, available: Iterable[str]) -> list[str]:
    """Return the template's fields; raise :class:`ConfigError` naming any field not in ``available``."""
    available = list(available)
    fields = template_fields(template)
    unknown = [f for f in fields if f not in available]
    if unknown:
        raise ConfigError(
            f"item-text template {template!r} uses unknown field(s) {', '.join(repr(f) for f in unknown)}; "
            f"available fields: {', '.join(available) if available else '(none)'}",
            hint="edit text_template in datasets.yaml to use only the fields the source provides",
        )
    return fields


def _format_value(value: str, piece: _Piece) -> str:
    if piece.conversion is None and not piece.spec:
        return value
    return format(_FORMATTER.convert_field(value, piece.conversion), piece.spec)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):  # None, NaN, pd.NA, NaT
        return ""
    return str(value)


def render_item_text(template: str, fields: Mapping[str, str]) -> str:
    """Render one item's text; a segment whose placeholders are all empty (or blank) is dropped.

    >>> render_item_text("title: {title}; brand: {brand}", {"title": "Lipstick", "brand": ""})
    'title: Lipstick'
    """
    check_template(template, fields.keys())
    kept = []
    for pieces in _segments(template):
        values = [_as_text(fields[p.field]) for p in pieces if p.field is not None]
        if values and not any(v.strip() for v in values):
            continue
        kept.append(
            "".join(
                p.literal + ("" if p.field is None else _format_value(_as_text(fields[p.field]), p)) for p in pieces
            )
        )
    return SEPARATOR.join(kept)


def render_item_texts(template: str, items: pd.DataFrame) -> list[str]:
    """Render every row of ``items`` (one column per field), column-wise; same result as :func:`render_item_text`."""
    check_template(template, [str(c) for c in items.columns])
    n = len(items)
    columns = {
        field: np.array([_as_text(v) for v in items[field].tolist()], dtype=object)
        for field in template_fields(template)
    }
    out = np.full(n, "", dtype=object)
    started = np.zeros(n, dtype=bool)
    for pieces in _segments(template):
        rendered = np.full(n, "", dtype=object)
        present = np.zeros(n, dtype=bool)
        has_field = False
        for piece in pieces:
            rendered = rendered + piece.literal
            if piece.field is None:
                continue
            has_field = True
            values = columns[piece.field]
            present |= np.fromiter((bool(v.strip()) for v in values), dtype=bool, count=n)
            if piece.conversion is not None or piece.spec:
                values = np.array([_format_value(v, piece) for v in values], dtype=object)
            rendered = rendered + values
        keep = present if has_field else np.ones(n, dtype=bool)
        joined = np.where(started, out + SEPARATOR + rendered, rendered)
        out = np.where(keep, joined, out)
        started |= keep
    return out.tolist()
