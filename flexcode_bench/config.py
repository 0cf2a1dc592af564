"""Typed configurations and the one config hash.

Precedence, everywhere: defaults < profile < YAML file < command-line flags. A config is a pydantic
model with ``extra="forbid"``, so a mistyped key fails loudly instead of being ignored; its hash is
the SHA-256 of its canonical JSON and is what ``prepare`` and ``run`` use to decide whether work
can be skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flexcode_bench.data.prepared import default_data_dir


def stable_hash(value: Mapping[str, Any] | BaseModel, *, length: int = 16) -> str:
    """SHA-256 of canonical JSON (sorted keys, no whitespace); a ``config_hash`` key is ignored."""
    from flexcode_bench.errors import ConfigError

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    body = {k: v for k, v in value.items() if k != "config_hash"}
    try:
        # Round-trip first so the hash is that of what config.yaml will hold (tuples → lists, int keys → str).
        plain = json.loads(json.dumps(body, allow_nan=False))
        canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"config is not plain JSON-able data: {exc}", hint="resolve it to dicts, lists, str, int, float, bool, None"
        ) from exc
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


class PrepareConfig(BaseModel):
    """Everything ``flexbench prepare`` needs. Only the fields in :meth:`processing_key` change the output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    source: str | None = Field(default=None, description="Catalogue source; default: the dataset's default_source.")
    k_core: int | None = Field(default=None, ge=1, description="Iterative k-core; default: the catalogue's k_core.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Where prepared datasets live.")
    raw_dir: Path | None = Field(default=None, description="Use files placed here by hand; no network.")
    mirror: str | None = Field(default=None, description="Replace the download host by this URL.")
    force: bool = Field(default=False, description="Redo preprocessing and embeddings even when up to date.")
    encoder: str = Field(default="all-MiniLM-L6-v2", description="Item-text encoder; 'none' skips embeddings.")
    device: str = Field(default="auto", description="auto | cpu | cuda for the text encoder.")
    catalogue: Path | None = Field(default=None, description="Catalogue file; default: the bundled datasets.yaml.")


class ProtocolConfig(BaseModel):
    """The evaluation protocol (DESIGN §3). Stored in every run; the report refuses to mix protocols."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: Literal["leave-one-out"] = "leave-one-out"
    mask_history: bool = Field(default=False, description="Remove the user's history items from the ranking.")
    tie_policy: Literal["pessimistic", "optimistic"] = Field(
        default="pessimistic", description="pessimistic: a tie ranks the target below (a constant model scores ~0)."
    )
    ks: tuple[int, ...] = (5, 10, 20)
    buckets: Literal["share", "coverage"] = Field(
        default="share", description="share: head 20% / torso 30% / tail 50% of items by training frequency."
    )


Profile = Literal["smoke", "quick", "cpu", "paper"]


class RunConfig(BaseModel):
    """One run: a dataset × model × seed under a profile. A pure function of this and the prepared data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    model: str
    seed: int = 0
    profile: Profile = "cpu"
    device: str = "auto"
    model_overrides: dict[str, Any] = Field(default_factory=dict, description="Model hyper-parameters over the profile.")
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    data_dir: Path = Field(default_factory=default_data_dir)
    results_dir: Path = Path("results")
    eval_chunk_size: int = Field(default=1024, ge=1, description="Users scored at once (memory bound only).")

    def identity(self) -> dict[str, Any]:
        """The fields that define the result (paths and chunk sizes do not)."""
        return self.model_dump(mode="json", exclude={"data_dir", "results_dir", "eval_chunk_size", "device"})


def resolve_dataclass(cls: type, profiles: Mapping[str, Mapping[str, Any]], profile: str, overrides: Mapping[str, Any]):
    """Build a model's config dataclass: defaults < profile < overrides, rejecting unknown keys by name."""
    import dataclasses

    from flexcode_bench.errors import ConfigError
    from flexcode_bench.registry import did_you_mean

    if profile not in profiles:
        raise ConfigError(f"{cls.__name__} has no profile {profile!r}{did_you_mean(profile, list(profiles))}")
    known = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for layer, source in ((profiles[profile], f"profile {profile!r}"), (overrides, "overrides")):
        for key, value in layer.items():
            if key not in known:
                raise ConfigError(f"{cls.__name__}: unknown option {key!r} in {source}{did_you_mean(key, known)}")
            values[key] = value
    return cls(**values)


class GridConfig(BaseModel):
    """datasets × models × seeds under one profile and protocol; expands into independent RunConfigs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: list[str] = Field(
        default_factory=list, description="Empty: every dataset prepared under data_dir (see resolved_datasets)."
    )
    models: list[str] = Field(default_factory=lambda: ["flexcode", "tiger", "sasrec"])
    seeds: list[int] = Field(default_factory=lambda: [0])
    profile: Profile = "cpu"
    device: str = "auto"
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    model_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per model name, hyper-parameters over the profile."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    results_dir: Path = Path("results")

    def overrides_for(self, model: str) -> dict[str, Any]:
        """The model's overrides; a variant ``<base>-<name>`` (a FlexCode ablation, a TIGER ID ablation)
        inherits ``<base>``'s, under its own entry."""
        base = model.split("-", 1)[0]
        inherited = self.model_overrides.get(base, {}) if base != model else {}
        return {**inherited, **self.model_overrides.get(model, {})}

    def resolved_datasets(self) -> list[str]:
        """The datasets named, or else every dataset prepared under ``data_dir`` (none is an error)."""
        if self.datasets:
            return list(self.datasets)
        from flexcode_bench.data.prepared import prepared_datasets
        from flexcode_bench.errors import ConfigError

        found = prepared_datasets(self.data_dir)
        if not found:
            raise ConfigError(
                f"no dataset is prepared in {self.data_dir} and none was named",
                hint="run `flexbench prepare ml-100k` (or any name from `flexbench ls datasets`) first, "
                "or pass --dataset / --data-dir",
            )
        return found

    def expand(self) -> list[RunConfig]:
        return [
            RunConfig(
                dataset=dataset,
                model=model,
                seed=seed,
                profile=self.profile,
                device=self.device,
                model_overrides=self.overrides_for(model),
                protocol=self.protocol,
                data_dir=self.data_dir,
                results_dir=self.results_dir,
            )
            for dataset in self.resolved_datasets()
            for model in self.models
            for seed in self.seeds
        ]


def load_grid_config(file: Path | None, flags: Mapping[str, Any]) -> GridConfig:
    """defaults < YAML file < flags (flags that are None were not given). Profiles apply inside each model."""
    import yaml
    from pydantic import ValidationError

    from flexcode_bench.errors import ConfigError

    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"--config {file}: no such file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {file}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {file}: expected a mapping of options, got {type(loaded).__name__}")
        values.update(loaded)
    protocol = dict(values.get("protocol", {}))
    for key, value in flags.items():
        if value is None:
            continue
        if key in ProtocolConfig.model_fields:
            protocol[key] = value
        else:
            values[key] = value
    if protocol:
        values["protocol"] = protocol
    try:
        return GridConfig(**values)
    except ValidationError as exc:
        where = f"--config {file}" if file else "options"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
