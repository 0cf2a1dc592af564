"""The one console pair: status and progress go to stderr, data to stdout.

Library code reports progress through :func:`progress` and :func:`info`/:func:`warning`, so a Python
caller sees the same messages as a CLI user and stdout stays clean for data (``--json``).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class _DataConsole(Console):
    """stdout. ``print_json`` never colours: JSON is for machines (``| jq``, ``json.loads``), and Rich
    would otherwise add escape codes on a terminal or whenever FORCE_COLOR is set, even into a pipe."""

    def print_json(self, json: str | None = None, *, highlight: bool = False, **kwargs: Any) -> None:
        super().print_json(json, highlight=highlight, **kwargs)


status = Console(stderr=True, highlight=False)
data = _DataConsole(highlight=False)


# Status messages are never hard-wrapped (soft_wrap): Rich would otherwise break them at the terminal
# width, or at an assumed 80 columns when stderr is a log file, splitting paths and phrases across lines
# so they can be neither copied nor grepped. A terminal still wraps a long line for display.


def info(message: str) -> None:
    status.print(message, soft_wrap=True)


def success(message: str) -> None:
    status.print(f"[green]✓[/green] {message}", soft_wrap=True)


def warning(message: str) -> None:
    status.print(f"[bold yellow]warning:[/bold yellow] {message}", soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    status.print(f"[bold red]error:[/bold red] {message}", soft_wrap=True)
    if hint:
        status.print(f"[dim]hint:[/dim] {hint}", soft_wrap=True)


def progress(*, transfer: bool = False) -> Progress:
    """A Rich progress bar on stderr; ``transfer=True`` shows bytes and speed (downloads)."""
    columns = [TextColumn("[progress.description]{task.description}"), BarColumn()]
    if transfer:
        columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns += [MofNCompleteColumn(), TimeElapsedColumn()]
    return Progress(*columns, console=status, transient=True)


def print_table(table) -> None:
    """Print a Rich table on stdout; when stdout is not a terminal, at its natural width (never squashed
    into ellipses by an assumed 80-column page)."""
    if data.is_terminal:
        data.print(table)
        return
    natural = data.measure(table, options=data.options.update_width(10_000)).maximum
    Console(file=data.file, width=max(data.width, natural), highlight=False, no_color=data.no_color).print(table)
