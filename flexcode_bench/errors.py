"""Typed errors. Each carries a message naming what was wrong and, where possible, a hint for the fix.

The CLI renders them as one red line plus the hint and exits with status 2; Python callers can
catch the specific class.
"""

from __future__ import annotations


class FlexbenchError(Exception):
    """Base class of every error flexbench raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


class ConfigError(FlexbenchError):
    """A configuration value, option or catalogue entry is invalid."""


class UnknownNameError(ConfigError):
    """A dataset, model or ablation name is not registered."""


class EvaluationInputError(FlexbenchError, ValueError):
    """A model's scores, ranked lists, ranks or counts handed to the evaluator are malformed.

    Also a ``ValueError`` so generic callers can catch it without knowing flexbench.
    """


class TrainingDivergedError(FlexbenchError):
    """A training loss became NaN or infinite: the run stops instead of training on garbage."""


class DataFormatError(FlexbenchError):
    """An input file is empty, truncated or not in the expected format."""


class DownloadError(FlexbenchError):
    """A file could not be fetched."""


class ChecksumError(DownloadError):
    """A file's SHA-256 does not match the expected value."""
