"""One registry type for every plug-in kind (datasets' readers, models, ablations, encoders).

Entries are lazy ``"module:attr"`` strings so listing names never imports torch; registering a name
twice is an error; looking up an unknown name suggests the closest ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from importlib import import_module
from typing import Any, Generic, TypeVar

from flexcode_bench.errors import ConfigError, UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """A short suffix for error messages: `` (did you mean 'x'?)`` or the list of valid names."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    return " (known: " + ", ".join(sorted(choices)) + ")" if choices else ""


class Registry(Generic[T]):
    """Maps names to lazily imported objects.

    >>> models = Registry[type]("model")
    >>> models.register("sasrec", "baselines.sasrec:SASRec")
    >>> "sasrec" in models
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str | T] = {}
        self._descriptions: dict[str, str] = {}
        self._frozen = False

    def register(self, name: str, target: str | T, *, description: str = "") -> None:
        if self._frozen:
            raise ConfigError(f"the {self.kind} registry is frozen; cannot add {name!r}")
        if name in self._targets:
            raise ConfigError(f"duplicate {self.kind} name {name!r}: already registered as {self._targets[name]!r}")
        if isinstance(target, str) and ":" not in target:
            raise ConfigError(f"{self.kind} {name!r}: lazy target must look like 'module:attr', got {target!r}")
        self._targets[name] = target
        self._descriptions[name] = description

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it on first use."""
        if name not in self._targets:
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, list(self._targets))}")
        target = self._targets[name]
        if isinstance(target, str):
            module_name, attr = target.split(":")
            obj: Any = import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._targets[name] = target = obj
        return target  # type: ignore[return-value]

    def description(self, name: str) -> str:
        self.get_target(name)
        return self._descriptions[name]

    def get_target(self, name: str) -> str | T:
        """The registered target without importing it."""
        if name not in self._targets:
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, list(self._targets))}")
        return self._targets[name]

    def names(self) -> list[str]:
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)
