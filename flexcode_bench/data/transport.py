"""HTTP transport: resumable, verified downloads of one URL to one file.

Downloads stream into ``<dest>.part`` (resumed with an HTTP Range request when a previous attempt was
cut) and are renamed onto ``dest`` only once the checksum and, for ``.gz`` files, the gzip stream
have been verified, so a file under its final name is always complete. Which files to fetch, and
from where, is :mod:`flexcode_bench.data.download`'s job.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flexcode_bench import __version__, console
from flexcode_bench.errors import ChecksumError, ConfigError, DataFormatError, DownloadError

DEFAULT_TIMEOUT = 30.0  # seconds without data before a download counts as failed
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    show_progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    names: tuple[str, ...] | None = None,
    expected_from: str = "as requested",
) -> str:
    """Download ``url`` to ``dest`` and return the file's SHA-256 (hex).

    ``names`` (the files a ``--raw-dir`` would need) and ``expected_from`` (where the expected hash
    came from) only word the error messages.

    An existing ``<dest>.part`` is resumed with ``Range: bytes=<size>-``; a server that answers 200
    instead of 206 is downloaded again from the start.

    Raises:
        ChecksumError: the bytes do not hash to ``expected_sha256`` (the partial file is deleted).
        DataFormatError: a ``.gz`` file does not decompress to its end (the partial file is deleted).
        DownloadError: the server answered 4xx/5xx, the network failed, or the transfer was cut
            (then ``<dest>.part`` is kept so the next call resumes it).
    """
    dest = Path(dest)
    ctx = _Context(names=names or (dest.name,), expected_from=expected_from)
    return _download(url, dest, expected_sha256, show_progress, timeout, ctx)


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
