"""The semantic-ID options are declared once and mean the same in every model that codes items from text."""

import dataclasses

from baselines.tiger import PROFILES as TIGER_PROFILES
from baselines.tiger import TigerConfig
from flexcode_bench.config import DEFAULT_ENCODER, PrepareConfig
from flexcode_bench.models.flexcode import PROFILES as FLEXCODE_PROFILES
from flexcode_bench.models.flexcode import FlexCodeConfig
from flexcode_bench.tokenizers.semantic_ids import PROFILES, SemanticIdConfig


def test_tiger_and_flexcode_inherit_the_tokeniser_options_with_one_default_encoder():
    shared = {f.name: f.default for f in dataclasses.fields(SemanticIdConfig)}
    for config in (TigerConfig, FlexCodeConfig):
        assert {f.name: f.default for f in dataclasses.fields(config) if f.name in shared} == shared
    assert SemanticIdConfig().text_encoder == PrepareConfig(dataset="x").encoder == DEFAULT_ENCODER


def test_both_models_take_the_tokeniser_profiles():
    for name, options in PROFILES.items():
        assert options.items() <= TIGER_PROFILES[name].items()
        assert options.items() <= FLEXCODE_PROFILES[name].items()
