"""FlexCode's ablations: named, typed deltas on the FlexCode config, each with its one-line question.

Each ablation is runnable as the model ``flexcode-<name>``; ``flexbench run --ablations`` runs all.
The deltas are pinned on top of the profile and the user's overrides (see
:class:`~flexcode_bench.models.spec.ModelSpec`), and a user override that contradicts an ablation is
an error rather than a silent winner. Questions are written for a token budget of L levels, so a
run with a ``levels`` override is described by what it actually fixes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flexcode_bench.registry import Registry
from flexcode_bench.tokenizers.semantic_ids import SemanticIdConfig

LEVELS: int = SemanticIdConfig.levels  # the default token budget; fixed-k ablations are registered for k = 0..LEVELS


@dataclass(frozen=True)
class Ablation:
    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    question: Callable[[int], str] = lambda levels: ""  # the question, for a budget of `levels` tokens

    def describe(self, levels: int = LEVELS) -> str:
        return self.question(levels)


ABLATIONS: Registry[Ablation] = Registry("ablation")


def _add(name: str, question: Callable[[int], str], **overrides: Any) -> None:
    ABLATIONS.register(name, Ablation(name, overrides, question), description=question(LEVELS))


def _fixed_split(k: int) -> Callable[[int], str]:
    def question(levels: int) -> str:
        kind = "semantic-only" if k == 0 else "CF-only" if k == levels else "mixed"
        return f"Every item gets {k} CF and {levels - k} semantic tokens ({kind})."

    return question


_add("no-moe", lambda L: "Does a learned per-item split beat one fixed split (⌊L/2⌋ CF tokens) for all items?", router="fixed")
_add("no-align", lambda L: "Does the cross-codebook alignment loss help?", align_weight=0.0)
for _k in range(LEVELS + 1):
    _add(f"fixed-k{_k}", _fixed_split(_k), router="fixed", fixed_split=_k)
_add("popularity-rule", lambda L: "Does learning the router beat a rule (head L, torso ⌈L/2⌉, tail ⌊L/2⌋, cold 0 CF tokens)?",
     router="popularity-rule")  # fmt: skip
ABLATIONS.freeze()

FLEXCODE = "flexcode"


def variant_name(ablation: str) -> str:
    return f"{FLEXCODE}-{ablation}"
