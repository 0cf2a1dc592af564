"""FlexCode's ablations: named, typed deltas on the FlexCode config, each with its one-line question.

Each ablation is runnable as the model ``flexcode-<name>``; ``flexbench run --ablations`` runs all.
The deltas are applied after the profile and the user's overrides, and a user override that
contradicts an ablation is an error rather than a silent winner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flexcode_bench.registry import Registry

LEVELS = 3  # the default token budget; fixed-k ablations are registered for k = 0..LEVELS


@dataclass(frozen=True)
class Ablation:
    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    question: str = ""


ABLATIONS: Registry[Ablation] = Registry("ablation")


def _add(name: str, question: str, **overrides: Any) -> None:
    ABLATIONS.register(name, Ablation(name, overrides, question), description=question)


_add("no-moe", "Does a learned per-item split beat one fixed split (⌊L/2⌋ CF tokens) for all items?", router="fixed")
_add("no-align", "Does the cross-codebook alignment loss help?", align_weight=0.0)
for _k in range(LEVELS + 1):
    _add(f"fixed-k{_k}", f"Every item gets {_k} CF and {LEVELS - _k} semantic tokens "
         f"({'semantic-only' if _k == 0 else 'CF-only' if _k == LEVELS else 'mixed'}).",
         router="fixed", fixed_split=_k)  # fmt: skip
_add("popularity-rule", "Does learning the router beat a rule (head L, torso ⌈L/2⌉, tail ⌊L/2⌋, cold 0 CF tokens)?",
     router="popularity-rule")  # fmt: skip
ABLATIONS.freeze()

FLEXCODE = "flexcode"


def variant_name(ablation: str) -> str:
    return f"{FLEXCODE}-{ablation}"


def apply_ablation(ablation: Ablation, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """User overrides, then the ablation's delta; a contradiction is an error naming both values."""
    from flexcode_bench.errors import ConfigError

    for key, value in ablation.overrides.items():
        if key in overrides and overrides[key] != value:
            raise ConfigError(
                f"override {key}={overrides[key]!r} contradicts ablation {ablation.name!r} ({key}={value!r})",
                hint=f"drop the override, or run plain '{FLEXCODE}' with it",
            )
    return {**overrides, **ablation.overrides}
