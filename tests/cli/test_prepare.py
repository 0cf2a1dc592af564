"""`flexbench prepare` end to end: real files, a real loopback server, real preprocessing."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from tests.support.http_server import closed_port, serve_folder
from tests.support.mcauley_fixtures import write_mcauley_fixture

MCAULEY_PATH = "data/amazon/productGraph/categoryFiles"


def invoke(*args: str):
    return CliRunner().invoke(app, ["prepare", *args])


@pytest.fixture
def sports_mirror(tmp_path):
    fixture = write_mcauley_fixture(tmp_path / "served" / MCAULEY_PATH, malformed_reviews=2)
    with serve_folder(tmp_path / "served") as server:
        yield server, fixture


def test_prepare_ml100k_works_offline_from_the_copy_recbole_or_its_wheel_ships(ml100k_data_dir):
    tmp_path = ml100k_data_dir
    result = invoke("ml-100k", "--data-dir", str(tmp_path), "--encoder", "none", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert stats["n_users"] == 943 and stats["split_counts"]["test"] == 943
    assert stats["n_interactions"] == stats["split_counts"]["train"] + 2 * 943
    items = pd.read_parquet(tmp_path / "ml-100k" / "items.parquet")
    assert items["text"].str.startswith("title: ").all()


def test_prepare_writes_real_sentence_embeddings_for_every_item(tmp_path, sports_mirror):
    server, fixture = sports_mirror
    result = invoke("amazon-sports", "--mirror", server.url, "--data-dir", str(tmp_path / "data"), "--json")
    assert result.exit_code == 0, result.output
    embeddings = np.load(json.loads(result.stdout)["embeddings"])
    assert embeddings.shape == (len(fixture.core_items), 384)  # all-MiniLM-L6-v2, bundled, offline
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3)


def test_prepare_amazon_sports_downloads_checks_and_preprocesses_through_a_mirror(tmp_path, sports_mirror):
    server, fixture = sports_mirror
    result = invoke("amazon-sports", "--mirror", server.url, "--data-dir", str(tmp_path / "data"),
                    "--encoder", "tfidf-svd", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert (stats["n_users"], stats["n_items"]) == (len(fixture.core_users), len(fixture.core_items))
    assert stats["n_interactions"] == fixture.n_core_interactions
    lock = json.loads((tmp_path / "data" / "raw" / "amazon-sports" / "mcauley-2014" / "checksums.lock.json").read_text())
    assert set(lock) == {"reviews_Sports_and_Outdoors_5.json.gz", "meta_Sports_and_Outdoors.json.gz"}
    # published statistics differ from the fixture's: a loud warning naming both counts
    assert "n_users is 40 after preprocessing but the published figure is 35,598" in result.stderr


def test_malformed_lines_are_quarantined_and_summarised_not_fatal(tmp_path, sports_mirror):
    server, fixture = sports_mirror
    result = invoke("amazon-sports", "--mirror", server.url, "--data-dir", str(tmp_path), "--encoder", "none")
    assert result.exit_code == 0, result.output
    quarantined = [json.loads(line) for line in (tmp_path / "amazon-sports" / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(q["line"] for q in quarantined) == sorted(fixture.malformed_review_lines)
    assert "2 malformed line(s)" in result.output


def test_rerunning_is_a_no_op_and_force_redoes_the_work(tmp_path, sports_mirror):
    server, _ = sports_mirror
    args = ("amazon-sports", "--mirror", server.url, "--data-dir", str(tmp_path), "--encoder", "none", "--json")
    first_run = invoke(*args)
    assert first_run.exit_code == 0 and json.loads(first_run.stdout)["reused"] is False
    manifest = tmp_path / "amazon-sports" / "manifest.json"
    first = manifest.stat().st_mtime_ns
    requests_before = len(server.requests)
    again = invoke(*args)
    assert again.exit_code == 0 and json.loads(again.stdout)["reused"] is True
    assert f"prepared data in {tmp_path / 'amazon-sports'} is up to date" in again.stderr  # never wrapped
    assert manifest.stat().st_mtime_ns == first
    assert len(server.requests) == requests_before  # cached raw files, no network
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["reused"] is False
    assert manifest.stat().st_mtime_ns != first


def test_an_interrupted_prepare_leaves_the_previous_complete_dataset(tmp_path, sports_mirror, monkeypatch):
    server, _ = sports_mirror
    data_dir = tmp_path / "data"
    args = ("amazon-sports", "--mirror", server.url, "--data-dir", str(data_dir), "--encoder", "none")
    assert invoke(*args).exit_code == 0
    before = {p.name: p.read_bytes() for p in (data_dir / "amazon-sports").iterdir()}

    real_to_parquet = pd.DataFrame.to_parquet
    calls = []

    def interrupted(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C halfway through writing
        return real_to_parquet(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    result = invoke(*args, "--force")
    assert result.exit_code != 0 and len(calls) == 2  # Click turns Ctrl-C into "Aborted!"
    after = {p.name: p.read_bytes() for p in (data_dir / "amazon-sports").iterdir()}
    assert after == before
    assert sorted(p.name for p in data_dir.iterdir()) == ["amazon-sports", "raw"]  # no staging leftovers


def test_without_network_the_error_names_the_url_and_explains_raw_dir(tmp_path):
    with closed_port() as url:
        result = invoke("amazon-beauty", "--mirror", url, "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "reviews_Beauty_5.json.gz" in result.stderr and "--raw-dir" in result.stderr


def test_a_truncated_gzip_given_by_hand_is_named_and_left_in_place(tmp_path):
    fixture = write_mcauley_fixture(tmp_path / "raw")
    data = fixture.reviews.read_bytes()
    fixture.reviews.write_bytes(data[: len(data) // 2])
    result = invoke("amazon-sports", "--raw-dir", str(tmp_path / "raw"), "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 2
    assert "truncated" in result.output and fixture.reviews.name in result.output
    assert fixture.reviews.exists()
    assert not (tmp_path / "data" / "amazon-sports").exists()


def test_an_empty_file_is_named_with_the_expected_format(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "Beauty.txt").write_text("")
    result = invoke("amazon-beauty", "--source", "s3rec", "--raw-dir", str(raw), "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 2
    assert "Beauty.txt" in result.output


def test_a_mistyped_dataset_or_source_suggests_the_right_name(tmp_path):
    result = invoke("amazon-beuaty", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "did you mean 'amazon-beauty'" in result.output
    result = invoke("amazon-beauty", "--source", "s3recc", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "did you mean 's3rec'" in result.output


@pytest.mark.shared_data
def test_prepare_beauty_from_the_shared_s3rec_files_matches_the_published_statistics(tmp_path, shared_beauty):
    result = invoke("amazon-beauty", "--source", "s3rec", "--raw-dir", str(shared_beauty),
                    "--data-dir", str(tmp_path), "--encoder", "none", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    stats = payload["stats"]
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (22363, 12101, 198502)
    assert payload["warnings"] == []
    items = pd.read_parquet(tmp_path / "amazon-beauty" / "items.parquet")
    assert items.loc[0, "text"] == "keywords: nail lacquer simmer and shimmer; attributes: OPI; Makeup; Nails; Nail Polish"
