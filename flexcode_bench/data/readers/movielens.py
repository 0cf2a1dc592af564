"""Reader for the GroupLens MovieLens 1M zip (``ml-1m/ratings.dat`` + ``ml-1m/movies.dat``, latin-1).

``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``. Every rating counts as an interaction (implicit
feedback), so the rating itself is ignored. ``movies.dat``: ``MovieID::Title (Year)::Genres``; the year is
split off the title into ``year`` and ``"A|B"`` genres become ``"A, B"``. Malformed lines are
quarantined and reading goes on; blank lines are skipped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from flexcode_bench.data.raw import QuarantinedLine, RawDataset
from flexcode_bench.errors import DataFormatError

RATINGS_FORMAT = "'UserID::MovieID::Rating::Timestamp' lines (latin-1)"
MOVIES_FORMAT = "'MovieID::Title (Year)::Genres' lines (latin-1)"
ARCHIVE_FORMAT = "the GroupLens ml-1m zip containing ml-1m/ratings.dat and ml-1m/movies.dat"
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$"


def read(files: dict[str, Path | None]) -> RawDataset:
    """Read the ``files["archive"]`` zip into a :class:`RawDataset`."""
    archive = files.get("archive")
    if archive is None:
        raise DataFormatError("the movielens-dat reader needs the archive", hint=f"expected {ARCHIVE_FORMAT}")
    archive = Path(archive)
    if not archive.is_file():
        raise DataFormatError(f"{archive} does not exist", hint=f"expected {ARCHIVE_FORMAT}")
    try:
        with zipfile.ZipFile(archive) as zf:
            ratings_name, movies_name = (_member(zf, archive, name) for name in ("ratings.dat", "movies.dat"))
            ratings_text = zf.read(ratings_name).decode("latin-1")
            movies_text = zf.read(movies_name).decode("latin-1")
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataFormatError(
            f"{archive} is truncated or not a zip archive ({exc}); delete it and download again",
            hint=f"expected {ARCHIVE_FORMAT}",
        ) from None
    quarantine: list[QuarantinedLine] = []
    ratings, n_ratings = _split_lines(f"{archive}!{ratings_name}", ratings_text, 4, RATINGS_FORMAT, quarantine)
    interactions = _interactions(ratings, f"{archive}!{ratings_name}", quarantine)
    movies, n_movies = _split_lines(f"{archive}!{movies_name}", movies_text, 3, MOVIES_FORMAT, quarantine)
    return RawDataset(
        interactions=interactions,
        items=_items(movies),
        has_timestamps=True,
        quarantine=quarantine,
        lines_read=n_ratings + n_movies,
    )


def _member(zf: zipfile.ZipFile, archive: Path, name: str) -> str:
    # GroupLens nests the files in ml-1m/; accept any folder so a re-zipped copy still reads.
    matches = [m for m in zf.namelist() if m == name or m.endswith("/" + name)]
    if not matches:
        raise DataFormatError(f"{archive} has no {name}; expected {ARCHIVE_FORMAT}")
    return min(matches, key=len)


def _split_lines(
    where: str, text: str, n_cells: int, expected: str, quarantine: list[QuarantinedLine]
) -> tuple[pd.DataFrame, int]:
    """Split '::'-separated lines into string columns 0..n_cells-1, plus ``_line``; quarantine the rest."""
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    if len(lines) and lines.iloc[-1] == "":
        lines = lines.iloc[:-1]
    lines.index = lines.index + 1  # 1-based line numbers
    lines = lines[lines.str.strip() != ""]
    if lines.empty:
        raise DataFormatError(f"{where} is empty; expected {expected}")
    cells = lines.str.split("::")
    good = cells.str.len() == n_cells
    for lineno in good[~good].index:
        reason = f"{len(cells[lineno])} '::'-separated fields, expected {n_cells}"
        quarantine.append(QuarantinedLine(where, int(lineno), reason, lines[lineno][:500]))
    table = pd.DataFrame(cells[good].tolist(), index=cells[good].index, columns=range(n_cells), dtype=object)
    if table.empty:
        raise DataFormatError(f"{where} has no valid line in {len(lines)} lines; expected {expected}")
    table["_line"] = table.index
    table["_text"] = lines[good].str.slice(0, 500)
    return table, len(lines)


def _interactions(ratings: pd.DataFrame, where: str, quarantine: list[QuarantinedLine]) -> pd.DataFrame:
    timestamps = pd.to_numeric(ratings[3].str.strip(), errors="coerce").astype("float64")
    bad = ~timestamps.abs().lt(float("inf"))
    for lineno in ratings.index[bad.to_numpy()]:
        reason = f"timestamp {ratings.at[lineno, 3][:50]!r} is not a number"
        quarantine.append(QuarantinedLine(where, int(lineno), reason, ratings.at[lineno, "_text"]))
    quarantine.sort(key=lambda q: q.line)  # cell-count and timestamp problems, back in file order
    kept = ratings[~bad]
    if kept.empty:
        raise DataFormatError(f"{where} has no valid line; expected {RATINGS_FORMAT}")
    return pd.DataFrame(
        {
            "user": kept[0].str.strip().to_numpy(dtype=object),
            "item": kept[1].str.strip().to_numpy(dtype=object),
            "timestamp": timestamps[~bad].to_numpy(dtype="float64"),
        }
    )


def _items(movies: pd.DataFrame) -> pd.DataFrame:
    title = movies[1].str.strip()
    parts = title.str.extract(_TITLE_YEAR)
    has_year = parts["year"].notna()
    genres = movies[2].str.strip().str.split("|").apply(lambda gs: ", ".join(g.strip() for g in gs if g.strip()))
    return pd.DataFrame(
        {
            "item": movies[0].str.strip().to_numpy(dtype=object),
            "title": title.where(~has_year, parts["title"]).to_numpy(dtype=object),
            "year": parts["year"].fillna("").to_numpy(dtype=object),
            "genres": genres.to_numpy(dtype=object),
        }
    )
