"""Models by name. Targets are lazy ``"module:attr"`` strings naming a factory
``build(profile: str, overrides: Mapping[str, Any]) -> Recommender`` whose result has a ``config``
dataclass; ``recbole:<Name>`` reaches any RecBole sequential model through the adapter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flexcode_bench.registry import Registry

ModelFactory = Callable[[str, Mapping[str, Any]], Any]

MODELS: Registry[ModelFactory] = Registry("model")
MODELS.register("popularity", "baselines.popularity:build", description="Most popular items from training counts")
MODELS.register("sasrec", "baselines.sasrec:build", description="SASRec, full-softmax CE over all positions")
MODELS.register("tiger", "baselines.tiger:build", description="TIGER-style semantic IDs + T5 generator + beam search")

RECBOLE_PREFIX = "recbole:"


def model_factory(name: str) -> ModelFactory:
    """The factory for ``name``; ``recbole:GRU4Rec`` and friends go through the RecBole adapter."""
    if name.startswith(RECBOLE_PREFIX):
        from baselines.recbole_adapter import build

        return functools.partial(build, name[len(RECBOLE_PREFIX) :])
    return MODELS.get(name)
