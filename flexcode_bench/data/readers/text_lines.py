"""Reading a small UTF-8 text file into lines, with errors that name the file and the expected format."""

from __future__ import annotations

from pathlib import Path

from flexcode_bench.errors import DataFormatError


def read_lines(path: Path, expected: str) -> list[str]:
    """The file's lines without line endings (a final empty line dropped); empty files are errors."""
    if not path.is_file():
        raise DataFormatError(f"{path} does not exist", hint=f"expected {expected}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path} is not UTF-8 text ({exc}); expected {expected}") from None
    if not text.strip():
        raise DataFormatError(f"{path} is empty; expected {expected}")
    # split("\n"), not splitlines(): the latter also breaks on \x1c, \x85, U+2028 inside text cells.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]
