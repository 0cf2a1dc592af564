"""Optional extras (``pip install -e ".[recbole]"``, ``".[ray]"``): one clear error when one is missing.

Each check runs where the feature is resolved (a ``recbole:<Name>`` model when the grid is planned, the
Ray executor when it is chosen), before any run starts, and names the extra to install and, where the
extra cannot install on this Python, why.
"""

from __future__ import annotations

import importlib.util
import sys

from flexcode_bench.errors import ConfigError


class MissingExtraError(ConfigError):
    """A feature needs an optional extra that is not installed (or cannot be on this Python)."""


# RecBole 1.2.1 pins ray<=2.6.3, and that ray has no wheel after Python 3.11 (pyproject's markers).
RECBOLE_MAX_PYTHON = (3, 11)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_recbole(feature: str) -> None:
    """Raise :class:`MissingExtraError` for ``feature`` unless RecBole is installed."""
    if installed("recbole"):
        return
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info[:2] > RECBOLE_MAX_PYTHON:
        raise MissingExtraError(
            f"{feature} needs RecBole, which cannot install on Python {version}: RecBole 1.2.1 pins "
            "ray<=2.6.3, and that ray has no wheel after Python 3.11",
            hint='use a Python 3.10 or 3.11 venv with pip install -e ".[recbole]", or a built-in model (flexbench ls models)',
        )
    raise MissingExtraError(
        f"{feature} needs RecBole, an optional extra that is not installed",
        hint='pip install -e ".[recbole]" (Python 3.10 or 3.11; it pins numpy<2 and pandas<3, '
        'so keep it out of a venv with the ray extra)',
    )


def require_ray(feature: str) -> None:
    """Raise :class:`MissingExtraError` for ``feature`` unless a current Ray is installed."""
    if not installed("ray"):
        raise MissingExtraError(f"{feature} needs Ray, an optional extra that is not installed",
                                hint='pip install -e ".[ray]"')  # fmt: skip
    from importlib.metadata import version

    found = version("ray")
    if tuple(int(p) for p in found.split(".")[:2]) < (2, 40):
        raise MissingExtraError(
            f"{feature} needs Ray >= 2.40, found {found} (RecBole's pin, or an old install)",
            hint='pip install -e ".[ray]" in a venv without the recbole extra',
        )
