"""Every registered model is one spec: it builds under every profile, its config round-trips through
YAML with a stable hash, and the protocol reaches it through the spec's declared flags only."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import yaml

from flexcode_bench.config import ProtocolConfig, stable_hash
from flexcode_bench.errors import ConfigError
from flexcode_bench.models import MODELS, model_spec

NAMES = list(MODELS) + (["recbole:SASRec", "recbole:GRU4Rec"] if importlib.util.find_spec("recbole") else [])


def cases():
    for name in NAMES:
        for profile in model_spec(name).profiles:
            yield name, profile


@pytest.mark.parametrize(("name", "profile"), list(cases()))
def test_every_registered_model_builds_under_every_profile_and_its_config_round_trips_through_yaml(name, profile):
    spec = model_spec(name)
    config = spec.resolve(profile, {}, ProtocolConfig())
    assert isinstance(config, spec.config)
    assert spec.build(config).config == config
    plain = dataclasses.asdict(config)
    again = spec.typed(yaml.safe_load(yaml.safe_dump(plain)))
    assert again == config
    assert stable_hash(dataclasses.asdict(again)) == stable_hash(plain)
    assert stable_hash(dataclasses.asdict(spec.resolve(profile, {}, ProtocolConfig()))) == stable_hash(plain)


@pytest.mark.parametrize("name", [n for n in MODELS if model_spec(n).follows_mask_history])
def test_the_protocols_history_masking_reaches_every_model_that_declares_it(name):
    spec = model_spec(name)
    assert spec.resolve("smoke", {}, ProtocolConfig(mask_history=True)).mask_history is True
    assert spec.resolve("smoke", {"mask_history": True}, ProtocolConfig(mask_history=False)).mask_history is False


def test_models_that_validate_themselves_or_decode_a_top_k_declare_it():
    declared = {name for name in MODELS if model_spec(name).follows_mask_history}
    assert {"sasrec", "tiger", "flexcode", "flexcode-no-moe"} <= declared and "popularity" not in declared
    assert model_spec("tiger").top_k_option == "beam_size" and model_spec("sasrec").top_k_option is None


def test_a_wrongly_typed_option_is_an_error_naming_the_option():
    with pytest.raises(ConfigError, match="beam_size"):
        model_spec("tiger").resolve("smoke", {"beam_size": "wide"})
    with pytest.raises(ConfigError, match="item_ids"):
        model_spec("tiger").resolve("smoke", {"item_ids": "hashed"})


def test_an_ablations_description_follows_the_resolved_levels():
    spec = model_spec("flexcode-fixed-k3")
    assert "CF-only" in spec.description(spec.resolve("smoke", {}))
    assert "3 CF and 1 semantic tokens (mixed)" in spec.description(spec.resolve("smoke", {"levels": 4}))
    with pytest.raises(ConfigError, match="fixed_split must be in 0..2"):
        spec.resolve("smoke", {"levels": 2})


def test_layered_profiles_merge_per_profile_later_layers_winning_and_refuse_mismatched_names():
    from flexcode_bench.models.spec import layered_profiles

    merged = layered_profiles({"smoke": {"a": 1, "b": 1}, "paper": {}}, {"smoke": {"b": 2}, "paper": {"c": 3}})
    assert merged == {"smoke": {"a": 1, "b": 2}, "paper": {"c": 3}}
    with pytest.raises(ConfigError, match="different profiles"):
        layered_profiles({"smoke": {}}, {"paper": {}})
