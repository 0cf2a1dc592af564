"""A model spec: the typed config a model reads, its profiles, and the class built from a resolved config.

Every model registry entry is one spec (see :mod:`flexcode_bench.models`). A spec is also the one
place where a model's options are resolved, in one order — defaults < profile < the user's overrides
< what the entry pins (an ablation's delta, TIGER's item IDs) — then type-checked, then given the
run's protocol. A pinned option that an override contradicts is an error, never a silent winner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flexcode_bench.config import ProtocolConfig
from flexcode_bench.errors import ConfigError
from flexcode_bench.registry import did_you_mean

C = TypeVar("C")


@dataclass(frozen=True)
class ModelSpec(Generic[C]):
    """How to resolve one registered model's config and build the model.

    ``follows_mask_history``: the config has a ``mask_history`` field that the run's protocol sets (a
    model that validates itself, or filters its own top-K, must mask as the evaluation does).
    ``top_k_option``: the config field bounding how many items ``recommend`` can return (a generative
    model's beam); a value below the protocol's largest K is refused, never raised silently.
    ``describe``: a one-line description of a resolved config (ablations name what they fix).
    """

    config: type[C]
    profiles: Mapping[str, Mapping[str, Any]]
    model: Callable[[C], Any]
    pinned: Mapping[str, Any] = field(default_factory=dict)
    pinned_by: str = ""
    follows_mask_history: bool = False
    top_k_option: str | None = None
    describe: Callable[[C], str] | None = None
    name: str = ""  # the registry name, set on lookup; errors name the model

    def pin(self, by: str, options: Mapping[str, Any], *, describe: Callable[[C], str] | None = None) -> ModelSpec[C]:
        """This spec with ``options`` fixed by the entry ``by`` (a variant: an ablation, an ID scheme)."""
        return dataclasses.replace(self, pinned={**self.pinned, **options}, pinned_by=by, describe=describe or self.describe)

    def options(self, profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """defaults < profile < overrides < pinned, as plain values; unknown keys and contradictions are errors."""
        name = self.config.__name__
        if profile not in self.profiles:
            raise ConfigError(f"{name} has no profile {profile!r}{did_you_mean(profile, list(self.profiles))}")
        known = [f.name for f in dataclasses.fields(self.config)]  # type: ignore[arg-type]
        for key, value in self.pinned.items():
            if key in overrides and overrides[key] != value:
                raise ConfigError(f"{self.name} fixes {key} = {value!r}: the override {key}={overrides[key]!r} "
                                  f"contradicts {self.pinned_by}", hint="drop the override, or run the plain model with it")  # fmt: skip
        values: dict[str, Any] = {}
        for layer, source in ((self.profiles[profile], f"profile {profile!r}"), (overrides, "overrides"), (self.pinned, self.pinned_by)):
            for key, value in layer.items():
                if key not in known:
                    raise ConfigError(f"{name}: unknown option {key!r} in {source}{did_you_mean(key, known)}")
                values[key] = value
        return values

    def resolve(self, profile: str, overrides: Mapping[str, Any], protocol: ProtocolConfig | None = None) -> C:
        """The typed config of a run; with ``protocol``, the protocol's flags applied and checked."""
        return self.apply_protocol(self.typed(self.options(profile, overrides)), protocol)

    def typed(self, values: Mapping[str, Any]) -> C:
        """``values`` checked against the config's field types (a wrong type is an error naming the field),
        then by the config's own checks; errors name the model."""
        from pydantic import TypeAdapter, ValidationError

        label = self.name or self.config.__name__
        try:
            return TypeAdapter(self.config).validate_python(dict(values))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{label}: {problems}") from None
        except ConfigError as exc:  # the config's __post_init__ checks
            raise ConfigError(f"{label}: {exc.message}", hint=exc.hint) from None

    def apply_protocol(self, config: C, protocol: ProtocolConfig | None) -> C:
        if protocol is None:
            return config
        if self.follows_mask_history:
            config = dataclasses.replace(config, mask_history=protocol.mask_history)  # type: ignore[type-var]
        if self.top_k_option is not None:
            k, limit = max(protocol.ks), getattr(config, self.top_k_option)
            if limit < k:
                raise ConfigError(f"{self.name}: {self.top_k_option} {limit} is smaller than the protocol's largest K = {k}",
                                  hint=f"set {self.top_k_option} >= {k} under model_overrides")  # fmt: skip
        return config

    def build(self, config: C) -> Any:
        """The untrained model of a resolved config."""
        return self.model(config)

    def description(self, config: C) -> str | None:
        return None if self.describe is None else self.describe(config)


def layered_profiles(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per profile name, the options of every layer, later layers winning (a model built from parts)."""
    names = set(layers[0]).intersection(*layers[1:])
    if any(set(layer) != names for layer in layers):
        raise ConfigError(f"profile layers name different profiles: {[sorted(layer) for layer in layers]}")
    return {name: {k: v for layer in layers for k, v in layer[name].items()} for name in layers[0]}


__all__ = ["ModelSpec", "layered_profiles"]
