"""Models by name: one :class:`~flexcode_bench.models.spec.ModelSpec` per entry.

Targets are lazy ``"module:SPEC"`` strings, so listing models never imports torch. Variants pin
options of another entry's spec: every FlexCode ablation is a model ``flexcode-<ablation>``, and
TIGER's ID ablations are ``tiger-atomic`` and ``tiger-random``. The prefix ``recbole:<Name>``
reaches any RecBole sequential model through the adapter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flexcode_bench.ablations import ABLATIONS, FLEXCODE, variant_name
from flexcode_bench.registry import Lazy, Registry, load_target

MODELS: Registry[Any] = Registry("model")  # values are ModelSpec (typed loosely so listing never imports it)
MODELS.register(FLEXCODE, "flexcode_bench.models.flexcode:SPEC", description="FlexCode: dual codebook + learned router")
MODELS.register("tiger", "baselines.tiger:SPEC", description="TIGER-style semantic IDs + T5 generator + beam search")
MODELS.register("tiger-atomic", "baselines.tiger:ATOMIC", description="TIGER with one token per item (no semantic ID)")
MODELS.register("tiger-random", "baselines.tiger:RANDOM", description="TIGER with random codes of the semantic IDs' shape")
MODELS.register("sasrec", "baselines.sasrec:SPEC", description="SASRec, full-softmax CE over all positions")
MODELS.register("popularity", "baselines.popularity:SPEC", description="Most popular items from training counts")
MODELS.register("markov", "baselines.markov:SPEC", description="Next item by training transitions from the last item")
MODELS.register_prefix("recbole:", "baselines.recbole_adapter:spec_for",
                       description="any RecBole sequential model, e.g. recbole:GRU4Rec, trained on our splits")  # fmt: skip


def _flexcode_variant(ablation: str):
    entry = ABLATIONS.get(ablation)
    spec = load_target("flexcode_bench.models.flexcode:SPEC")
    return spec.pin(f"ablation {ablation!r}", entry.overrides, describe=lambda config: entry.describe(config.levels))


for _name in ABLATIONS:
    MODELS.register(variant_name(_name), Lazy(lambda n=_name: _flexcode_variant(n), f"flexcode_bench.models.flexcode:SPEC + ablation {_name}"),
                    description=ABLATIONS.description(_name))  # fmt: skip
MODELS.freeze()

ALL_BASELINES = (FLEXCODE, "tiger", "sasrec")  # `flexbench run --all-baselines`
ABLATION_MODELS = tuple(variant_name(name) for name in ABLATIONS)  # `flexbench run --ablations`


def model_spec(name: str):
    """The spec registered as ``name`` (a prefix entry such as ``recbole:GRU4Rec`` included)."""
    return dataclasses.replace(MODELS.get(name), name=name)


def build_model(name: str, profile: str, overrides: Mapping[str, Any], protocol=None):
    """The untrained model ``name`` under ``profile`` and ``overrides`` (and ``protocol``, when given)."""
    spec = model_spec(name)
    return spec.build(spec.resolve(profile, overrides, protocol))


__all__ = ["ABLATION_MODELS", "ALL_BASELINES", "MODELS", "build_model", "model_spec"]
