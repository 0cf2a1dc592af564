from pathlib import Path

import pytest

from flexcode_bench.data.catalogue import load_catalogue
from flexcode_bench.errors import ConfigError, UnknownNameError

REPO_CATALOGUE = Path(__file__).resolve().parents[2] / "datasets.yaml"


def test_the_bundled_catalogue_has_the_promised_datasets_and_statistics():
    catalogue = load_catalogue(REPO_CATALOGUE)
    assert {"amazon-sports", "amazon-beauty", "amazon-toys", "ml-100k", "ml-1m"} <= set(catalogue.datasets)
    expected = {name: catalogue.get(name).expected for name in ("amazon-sports", "amazon-beauty", "amazon-toys")}
    assert (expected["amazon-sports"].n_users, expected["amazon-sports"].n_items) == (35598, 18357)
    assert expected["amazon-beauty"].n_interactions == 198502
    assert expected["amazon-toys"].n_interactions == 167597
    for name in ("amazon-sports", "amazon-beauty", "amazon-toys"):
        spec = catalogue.get(name)
        assert set(spec.sources) == {"mcauley-2014", "s3rec"}
        reviews = spec.sources["mcauley-2014"].files["reviews"].url
        assert reviews.endswith("_5.json.gz") and "/reviews_" in reviews


def test_a_mistyped_dataset_name_suggests_the_right_one():
    with pytest.raises(UnknownNameError, match="did you mean 'amazon-sports'"):
        load_catalogue(REPO_CATALOGUE).get("amazon-sport")


def test_an_unknown_key_in_the_catalogue_names_the_dataset_and_the_key(tmp_path):
    bad = tmp_path / "datasets.yaml"
    bad.write_text(
        REPO_CATALOGUE.read_text().replace("    k_core: 5\n    default_source: recbole", "    kcore: 5\n    default_source: recbole")
    )
    with pytest.raises(ConfigError, match=r"dataset 'ml-100k': kcore: Extra inputs are not permitted"):
        load_catalogue(bad)


def test_a_source_with_the_wrong_file_roles_is_rejected(tmp_path):
    bad = tmp_path / "datasets.yaml"
    bad.write_text(REPO_CATALOGUE.read_text().replace("inter: {filename: ml-100k.inter", "ratings: {filename: x"))
    with pytest.raises(ConfigError, match="format 'recbole-atomic' needs files"):
        load_catalogue(bad)


def test_a_malformed_checksum_is_rejected(tmp_path):
    bad = tmp_path / "datasets.yaml"
    bad.write_text(REPO_CATALOGUE.read_text().replace("sha256: 226cce9c", "sha256: ZZ6cce9c"))
    with pytest.raises(ConfigError, match="sha256 must be 64 lower-case hex digits"):
        load_catalogue(bad)
