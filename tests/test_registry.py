import pytest

from flexcode_bench.errors import ConfigError, UnknownNameError
from flexcode_bench.registry import Lazy, Registry


def test_lazy_targets_are_imported_only_on_first_get():
    registry = Registry[object]("thing")
    registry.register("dumps", "json:dumps")
    assert registry.get_target("dumps") == "json:dumps"
    import json

    assert registry.get("dumps") is json.dumps


def test_registering_a_name_twice_is_an_error():
    registry = Registry[object]("model")
    registry.register("sasrec", "json:dumps")
    with pytest.raises(ConfigError, match="duplicate model name 'sasrec'"):
        registry.register("sasrec", "json:loads")


def test_unknown_name_suggests_the_closest_one():
    registry = Registry[object]("model")
    registry.register("sasrec", "json:dumps")
    registry.register("tiger", "json:loads")
    with pytest.raises(UnknownNameError, match="did you mean 'sasrec'"):
        registry.get("sasrek")


def test_a_frozen_registry_refuses_new_names():
    registry = Registry[object]("model")
    registry.freeze()
    with pytest.raises(ConfigError, match="frozen"):
        registry.register("x", "json:dumps")


def test_lazy_target_without_colon_is_rejected():
    with pytest.raises(ConfigError, match="module:attr"):
        Registry[object]("model").register("x", "json.dumps")


def test_a_lazy_factory_is_called_once_on_first_get_and_listed_by_its_label():
    calls = []
    registry = Registry[object]("model")
    registry.register("variant", Lazy(lambda: calls.append(1) or "made", "base + delta"))
    assert calls == [] and registry.get_target("variant").label == "base + delta"
    assert registry.get("variant") == registry.get("variant") == "made"
    assert calls == [1]


def test_a_registered_prefix_answers_every_name_that_starts_with_it():
    registry = Registry[object]("model")
    registry.register_prefix("upper:", "builtins:str.upper", description="any word, shouted")
    assert registry.get("upper:grurec") == "GRUREC"
    assert registry.prefixes() == {"upper:": ("builtins:str.upper", "any word, shouted")}
    with pytest.raises(UnknownNameError):
        registry.get("lower:grurec")
