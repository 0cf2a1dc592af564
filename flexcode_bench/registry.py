"""One registry type for every plug-in kind (datasets' readers, models, ablations, encoders).

Entries are lazy ``"module:attr"`` strings (or :class:`Lazy` factories) so listing names never
imports torch; registering a name twice is an error; looking up an unknown name suggests the
closest ones. A registered *prefix* answers a whole family of names (``recbole:<Name>``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Lazy(Generic[T]):
    """A target made on first use by ``make()`` (e.g. a variant of another entry); ``label`` is how it is listed."""

    make: Callable[[], T]
    label: str


def load_target(target: str) -> Any:
    module_name, attr = target.split(":")
    obj: Any = import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Maps names to lazily imported objects.

    >>> models = Registry[type]("model")
    >>> models.register("sasrec", "baselines.sasrec:SASRec")
    >>> "sasrec" in models
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str | Lazy[T] | T] = {}
        self._loaded: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}
        self._prefixes: dict[str, tuple[str, str]] = {}  # prefix -> ("module:attr" of a name -> T function, description)
        self._frozen = False

    def register(self, name: str, target: str | Lazy[T] | T, *, description: str = "") -> None:
        if self._frozen:
            raise ConfigError(f"the {self.kind} registry is frozen; cannot add {name!r}")
        if name in self._targets:
            raise ConfigError(f"duplicate {self.kind} name {name!r}: already registered as {self._targets[name]!r}")
        if isinstance(target, str) and ":" not in target:
            raise ConfigError(f"{self.kind} {name!r}: lazy target must look like 'module:attr', got {target!r}")
        self._targets[name] = target
        self._descriptions[name] = description

    def register_prefix(self, prefix: str, target: str, *, description: str = "") -> None:
        """Every name ``<prefix><rest>`` resolves to ``target(rest)``; ``target`` is a lazy ``"module:attr"``."""
        if self._frozen:
            raise ConfigError(f"the {self.kind} registry is frozen; cannot add {prefix!r}")
        self._prefixes[prefix] = (target, description)

    def prefixes(self) -> dict[str, tuple[str, str]]:
        """Registered prefixes: ``{prefix: (target, description)}``."""
        return dict(self._prefixes)

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it on first use."""
        for prefix, (target, _) in self._prefixes.items():
            if name.startswith(prefix) and name not in self._targets:
                return load_target(target)(name[len(prefix) :])
        if name not in self._targets:
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, list(self._targets))}")
        if name not in self._loaded:
            target = self._targets[name]
            self._loaded[name] = load_target(target) if isinstance(target, str) else target.make() if isinstance(target, Lazy) else target
        return self._loaded[name]

    def description(self, name: str) -> str:
        self.get_target(name)
        return self._descriptions[name]

    def get_target(self, name: str) -> str | Lazy[T] | T:
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
