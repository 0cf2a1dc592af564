"""Resumable, verified downloads, against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import gzip
import random

import pytest

from flexcode_bench.data.transport import download, mirror_url
from flexcode_bench.errors import ChecksumError, ConfigError, DataFormatError, DownloadError
from tests.data.conftest import SIZE, sha
from tests.support.http_server import RecordedRequest, silent_port


def test_download_writes_the_served_bytes_and_returns_their_sha256(server, body, tmp_path):
    dest = tmp_path / "raw" / "blob.bin"

    digest = download(server.url_for("blob.bin"), dest, show_progress=True)

    assert dest.read_bytes() == body
    assert digest == sha(body)
    assert not dest.with_name("blob.bin.part").exists()
    assert server.requests == [RecordedRequest("/blob.bin", None, 200, SIZE)]


def test_given_a_partial_file_then_download_resumes_with_a_range_request_for_the_rest(server, body, tmp_path):
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(body[:100_000])

    digest = download(server.url_for("blob.bin"), dest, expected_sha256=sha(body), show_progress=False)

    assert server.requests == [RecordedRequest("/blob.bin", "bytes=100000-", 206, SIZE - 100_000)]
    assert dest.read_bytes() == body
    assert digest == sha(body)


def test_given_a_server_that_ignores_range_then_download_restarts_from_zero(server, body, tmp_path):
    server.ignore_range = True
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(b"stale bytes that must not survive")

    digest = download(server.url_for("blob.bin"), dest, show_progress=False)

    assert server.requests == [RecordedRequest("/blob.bin", "bytes=33-", 200, SIZE)]
    assert dest.read_bytes() == body
    assert digest == sha(body)


def test_given_a_partial_file_as_long_as_the_file_then_the_416_answer_restarts_the_download(server, body, tmp_path):
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(b"\0" * SIZE)

    download(server.url_for("blob.bin"), dest, show_progress=False)

    assert [(r.range, r.status) for r in server.requests] == [(f"bytes={SIZE}-", 416), (None, 200)]
    assert dest.read_bytes() == body


def test_given_a_cut_transfer_then_the_part_file_is_kept_and_the_next_call_resumes_it(server, body, tmp_path):
    dest = tmp_path / "blob.bin"
    url = server.url_for("blob.bin")
    server.cut_after("/blob.bin", 120_000)

    with pytest.raises(DownloadError, match=url):
        download(url, dest, show_progress=False)
    assert not dest.exists()
    assert dest.with_name("blob.bin.part").read_bytes() == body[:120_000]

    server.clear()
    download(url, dest, expected_sha256=sha(body), show_progress=False)
    assert server.requests == [RecordedRequest("/blob.bin", "bytes=120000-", 206, SIZE - 120_000)]
    assert dest.read_bytes() == body


def test_given_a_wrong_pinned_checksum_then_the_download_is_deleted_and_named_in_the_error(server, body, tmp_path):
    dest = tmp_path / "blob.bin"
    url = server.url_for("blob.bin")
    pinned = sha(b"what the catalogue expects")

    with pytest.raises(ChecksumError) as caught:
        download(url, dest, expected_sha256=pinned, show_progress=False)

    assert url in caught.value.message and pinned in caught.value.message and sha(body) in caught.value.message
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()


def test_given_a_server_error_then_download_error_names_the_url_and_status(server, body, tmp_path):
    url = server.url_for("blob.bin")
    server.fail("/blob.bin", status=500)

    with pytest.raises(DownloadError, match="HTTP 500") as caught:
        download(url, tmp_path / "blob.bin", show_progress=False)

    assert url in caught.value.message
    assert not isinstance(caught.value, ChecksumError)


def test_given_a_silent_server_then_the_timeout_is_a_download_error(tmp_path):
    with silent_port() as base:
        with pytest.raises(DownloadError, match="timed out") as caught:
            download(f"{base}/slow.bin", tmp_path / "slow.bin", timeout=0.3, show_progress=False)
    assert "--raw-dir" in caught.value.hint and "slow.bin" in caught.value.hint


def test_given_a_truncated_gzip_then_data_format_error_and_nothing_is_kept(server, www, tmp_path):
    whole = gzip.compress(random.Random(1).randbytes(50_000))
    (www / "reviews.json.gz").write_bytes(whole[: len(whole) // 2])
    dest = tmp_path / "reviews.json.gz"

    with pytest.raises(DataFormatError, match="truncated"):
        download(server.url_for("reviews.json.gz"), dest, show_progress=False)

    assert not dest.exists() and not dest.with_name("reviews.json.gz.part").exists()


@pytest.mark.parametrize(
    ("url", "mirror", "expected"),
    [
        ("http://snap.stanford.edu/data/x.gz", "http://127.0.0.1:8000/m/", "http://127.0.0.1:8000/m/data/x.gz"),
        ("http://snap.stanford.edu/data/x.gz", "http://127.0.0.1:8000/m", "http://127.0.0.1:8000/m/data/x.gz"),
        (
            "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            "http://localhost:9000",
            "http://localhost:9000/datasets/movielens/ml-1m.zip",
        ),
        ("https://host.org/a/b.txt?raw=1", "https://mirror.example/", "https://mirror.example/a/b.txt?raw=1"),
    ],
)
def test_mirror_url_swaps_scheme_and_host_and_keeps_the_path(url, mirror, expected):
    assert mirror_url(url, mirror) == expected


def test_given_a_mirror_without_scheme_then_config_error():
    with pytest.raises(ConfigError, match="mirror.example"):
        mirror_url("http://snap.stanford.edu/data/x.gz", "mirror.example/data")
