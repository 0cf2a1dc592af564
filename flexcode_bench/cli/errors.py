"""Turn flexbench's typed errors into one red line, a hint and exit status 2 (no traceback)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from flexcode_bench import console
from flexcode_bench.errors import FlexbenchError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlexbenchError as exc:
            console.error(exc.message, exc.hint)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
