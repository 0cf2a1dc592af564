"""Models by name. Targets are lazy ``"module:attr"`` strings naming a factory
``build(profile: str, overrides: Mapping[str, Any]) -> Recommender`` whose result has a ``config``
dataclass; ``recbole:<Name>`` reaches any RecBole sequential model through the adapter, and every
FlexCode ablation is a model ``flexcode-<ablation>``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flexcode_bench.ablations import ABLATIONS, FLEXCODE, apply_ablation, variant_name
from flexcode_bench.registry import Registry

ModelFactory = Callable[[str, Mapping[str, Any]], Any]

MODELS: Registry[ModelFactory] = Registry("model")
MODELS.register(FLEXCODE, "flexcode_bench.models.flexcode:build", description="FlexCode: dual codebook + learned router")
MODELS.register("tiger", "baselines.tiger:build", description="TIGER-style semantic IDs + T5 generator + beam search")
MODELS.register("tiger-atomic", "baselines.tiger:build_atomic", description="TIGER with one token per item (no semantic ID)")
MODELS.register("tiger-random", "baselines.tiger:build_random", description="TIGER with random codes of the semantic IDs' shape")
MODELS.register("sasrec", "baselines.sasrec:build", description="SASRec, full-softmax CE over all positions")
MODELS.register("popularity", "baselines.popularity:build", description="Most popular items from training counts")

ALL_BASELINES = (FLEXCODE, "tiger", "sasrec")  # `flexbench run --all-baselines`
RECBOLE_PREFIX = "recbole:"


def _flexcode_variant(ablation: str, profile: str, overrides: Mapping[str, Any]):
    from flexcode_bench.models.flexcode import build

    return build(profile, apply_ablation(ABLATIONS.get(ablation), overrides))


for _name in ABLATIONS:
    MODELS.register(variant_name(_name), functools.partial(_flexcode_variant, _name), description=ABLATIONS.description(_name))
MODELS.freeze()

ABLATION_MODELS = tuple(variant_name(name) for name in ABLATIONS)  # `flexbench run --ablations`


def model_factory(name: str) -> ModelFactory:
    """The factory for ``name``; ``recbole:GRU4Rec`` and friends go through the RecBole adapter.

    Raises:
        MissingExtraError: a ``recbole:`` model without the ``recbole`` extra installed.
    """
    if name.startswith(RECBOLE_PREFIX):
        from flexcode_bench.extras import require_recbole

        require_recbole(f"model {name!r}")  # before anything imports it: one clear error naming the extra
        from baselines.recbole_adapter import build

        return functools.partial(build, name[len(RECBOLE_PREFIX) :])
    return MODELS.get(name)
