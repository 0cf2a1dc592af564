from __future__ import annotations

import gzip
import json
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flexcode_bench.data.catalogue import FORMAT_ROLES
from flexcode_bench.data.raw import RawDataset
from flexcode_bench.data.readers import READERS
from flexcode_bench.errors import DataFormatError


def _review(user: str, item: str, when: int) -> str:
    return json.dumps({"reviewerID": user, "asin": item, "overall": 5.0, "reviewText": "ok", "unixReviewTime": when})


def _write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


def _read(fmt: str, **files: Path | None) -> RawDataset:
    return READERS.get(fmt)(files)


# --- the registry -------------------------------------------------------------------------------


def test_every_catalogue_format_has_a_registered_reader() -> None:
    assert sorted(READERS.names()) == sorted(FORMAT_ROLES)
    for name in READERS.names():
        assert callable(READERS.get(name))


# --- mcauley-2014 -------------------------------------------------------------------------------

META_LINES = [
    # Python literal dicts, as the McAuley meta files are written (not JSON: single quotes)
    (
        "{'asin': 'I1', 'title': 'Rose Lipstick', 'brand': 'ACME', 'price': 12.99, "
        "'categories': [['Beauty', 'Makeup', 'Lips'], ['Beauty', 'Makeup']], 'related': {'also_bought': ['I2']}}"
    ),
    "{'asin': 'I2', 'title': \"Kid's Shampoo\", 'categories': [['Beauty']]}",
    "{'asin': 'NOT_REVIEWED', 'title': 'skipped'}",
    '{"asin": "I3", "title": "Json Line", "brand": "B", "price": 5, "categories": [], "x": true, "y": null}',
]


def test_mcauley_reads_reviews_in_source_order_with_unix_timestamps(tmp_path: Path) -> None:
    reviews = _write_gz(
        tmp_path / "reviews.json.gz", [_review("U1", "I1", 30), _review("U2", "I2", 10), _review("U1", "I3", 20)]
    )
    raw = _read("mcauley-2014", reviews=reviews, meta=None)
    assert raw.interactions["user"].tolist() == ["U1", "U2", "U1"]
    assert raw.interactions["item"].tolist() == ["I1", "I2", "I3"]
    assert raw.interactions["timestamp"].tolist() == [30.0, 10.0, 20.0]
    assert raw.interactions["timestamp"].dtype == np.float64
    assert raw.has_timestamps and raw.quarantine == [] and raw.lines_read == 3


def test_mcauley_reads_plain_uncompressed_json_lines_too(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.json"
    reviews.write_text(_review("U1", "I1", 1) + "\n")
    assert _read("mcauley-2014", reviews=reviews, meta=None).interactions["item"].tolist() == ["I1"]


def test_mcauley_quarantines_malformed_review_lines_with_1_based_line_numbers_and_continues(tmp_path: Path) -> None:
    lines = [
        _review("U1", "I1", 1),  # 1
        '{"reviewerID": "U1", "asin": "I2", ',  # 2: cut short
        json.dumps({"reviewerID": "U2", "unixReviewTime": 5}),  # 3: no asin
        json.dumps({"reviewerID": 7, "asin": "I1", "unixReviewTime": 5}),  # 4: id is not a string
        json.dumps({"reviewerID": "U2", "asin": "I1", "unixReviewTime": "yesterday"}),  # 5
        "",  # 6: blank lines carry no record and are not malformed
        "[1, 2]",  # 7
        _review("U2", "I2", 2),  # 8
    ]
    raw = _read("mcauley-2014", reviews=_write_gz(tmp_path / "r.json.gz", lines), meta=None)
    assert raw.interactions["item"].tolist() == ["I1", "I2"]
    assert [q.line for q in raw.quarantine] == [2, 3, 4, 5, 7]
    reasons = [q.reason for q in raw.quarantine]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "missing key 'asin'"
    assert "'reviewerID' must be a string" in reasons[2]
    assert "'unixReviewTime' must be a number" in reasons[3]
    assert "expected a JSON object" in reasons[4]
    assert raw.quarantine[1].text == lines[2]
    assert raw.quarantine[0].file == str(tmp_path / "r.json.gz")
    assert raw.lines_read == 8


def test_mcauley_quarantined_text_is_cut_to_500_characters(tmp_path: Path) -> None:
    lines = [_review("U1", "I1", 1), "x" * 2000]
    raw = _read("mcauley-2014", reviews=_write_gz(tmp_path / "r.json.gz", lines), meta=None)
    assert len(raw.quarantine[0].text) == 500


def test_mcauley_meta_is_parsed_as_python_literals_with_flattened_categories_and_prices(tmp_path: Path) -> None:
    reviews = _write_gz(
        tmp_path / "r.json.gz", [_review("U1", "I1", 1), _review("U1", "I2", 2), _review("U1", "I3", 3)]
    )
    raw = _read("mcauley-2014", reviews=reviews, meta=_write_gz(tmp_path / "meta.json.gz", META_LINES))
    items = raw.items.set_index("item")
    assert list(raw.items.columns) == ["item", "title", "brand", "categories", "price"]
    assert items.loc["I1"].to_dict() == {
        "title": "Rose Lipstick",
        "brand": "ACME",
        "categories": "Beauty, Makeup, Lips",
        "price": "$12.99",
    }
    assert items.loc["I2"].to_dict() == {"title": "Kid's Shampoo", "brand": "", "categories": "Beauty", "price": ""}
    # a JSON line (true/null are not Python literals) falls back to json.loads
    assert items.loc["I3"].to_dict() == {"title": "Json Line", "brand": "B", "categories": "", "price": "$5.00"}
    assert raw.quarantine == []


def test_mcauley_keeps_meta_only_for_products_that_have_reviews(tmp_path: Path) -> None:
    reviews = _write_gz(tmp_path / "r.json.gz", [_review("U1", "I1", 1)])
    raw = _read("mcauley-2014", reviews=reviews, meta=_write_gz(tmp_path / "meta.json.gz", META_LINES))
    assert raw.items["item"].tolist() == ["I1"]


def test_mcauley_meta_line_with_code_is_quarantined_not_executed(tmp_path: Path) -> None:
    canary = tmp_path / "executed"
    lines = [
        f"{{'asin': 'I1', 'title': __import__('pathlib').Path({str(canary)!r}).touch()}}",
        "{'asin': 'I2', 'title': 'fine'}",
    ]
    reviews = _write_gz(tmp_path / "r.json.gz", [_review("U1", "I1", 1), _review("U1", "I2", 2)])
    raw = _read("mcauley-2014", reviews=reviews, meta=_write_gz(tmp_path / "meta.json.gz", lines))
    assert not canary.exists()
    assert [(q.line, q.file) for q in raw.quarantine] == [(1, str(tmp_path / "meta.json.gz"))]
    assert "not a Python literal or JSON dict" in raw.quarantine[0].reason
    assert raw.items["item"].tolist() == ["I2"]


def test_mcauley_meta_lines_with_wrong_field_types_are_quarantined(tmp_path: Path) -> None:
    lines = [
        "{'asin': 'I1', 'price': 'cheap'}",
        "{'asin': 'I1', 'categories': 'Beauty'}",
        "{'title': 'no asin'}",
        "{'asin': 'I1', 'title': 'third time lucky', 'price': 3}",
    ]
    reviews = _write_gz(tmp_path / "r.json.gz", [_review("U1", "I1", 1)])
    raw = _read("mcauley-2014", reviews=reviews, meta=_write_gz(tmp_path / "meta.json.gz", lines))
    assert [q.line for q in raw.quarantine] == [1, 2, 3]
    assert raw.items.to_dict("records") == [
        {"item": "I1", "title": "third time lucky", "brand": "", "categories": "", "price": "$3.00"}
    ]


def test_mcauley_truncated_gzip_names_the_file_and_the_line_where_it_ended(tmp_path: Path) -> None:
    full = _write_gz(tmp_path / "full.json.gz", [_review(f"U{n}", f"I{n}", n) for n in range(5000)])
    cut = full.read_bytes()[: len(full.read_bytes()) // 2]
    truncated = tmp_path / "reviews_Beauty_5.json.gz"
    truncated.write_bytes(cut)
    # Oracle: the complete lines zlib can recover from the cut stream; the error is on the next one.
    complete = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    with pytest.raises(DataFormatError) as info:
        _read("mcauley-2014", reviews=truncated, meta=None)
    assert info.value.message == (
        f"{truncated} is truncated (gzip stream ended at line {complete + 1}); delete it and download again"
    )


@pytest.mark.parametrize("compressed", [True, False])
def test_mcauley_empty_reviews_file_error_names_the_file_and_expected_format(tmp_path: Path, compressed: bool) -> None:
    path = _write_gz(tmp_path / "reviews.json.gz", []) if compressed else tmp_path / "reviews.json"
    if not compressed:
        path.write_bytes(b"")
    with pytest.raises(DataFormatError) as info:
        _read("mcauley-2014", reviews=path, meta=None)
    assert info.value.message.startswith(f"{path} is empty")
    assert "reviewerID, asin, unixReviewTime" in info.value.message


def test_mcauley_reviews_file_without_a_valid_line_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _write_gz(tmp_path / "reviews.json.gz", ["not json", "{}"])
    with pytest.raises(DataFormatError) as info:
        _read("mcauley-2014", reviews=path, meta=None)
    assert str(path) in info.value.message
    assert "no valid line in 2 lines (first: line 1: not valid JSON" in info.value.message
    assert "reviewerID, asin, unixReviewTime" in info.value.message


def test_mcauley_empty_meta_file_is_an_error_naming_it(tmp_path: Path) -> None:
    reviews = _write_gz(tmp_path / "r.json.gz", [_review("U1", "I1", 1)])
    meta = _write_gz(tmp_path / "meta.json.gz", [])
    with pytest.raises(DataFormatError, match=re.escape(f"{meta} is empty")):
        _read("mcauley-2014", reviews=reviews, meta=meta)


def test_mcauley_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="does not exist"):
        _read("mcauley-2014", reviews=tmp_path / "nope.json.gz", meta=None)


# --- s3rec --------------------------------------------------------------------------------------


def test_s3rec_reads_one_user_per_line_in_file_order_without_timestamps(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("1 10 11 12\n2 12 10\n")
    raw = _read("s3rec", sequences=sequences, items=None)
    assert raw.interactions["user"].tolist() == ["1", "1", "1", "2", "2"]
    assert raw.interactions["item"].tolist() == ["10", "11", "12", "12", "10"]
    assert raw.interactions["timestamp"].isna().all()
    assert not raw.has_timestamps
    assert list(raw.items.columns) == ["item"] and raw.items.empty


def test_s3rec_quarantines_short_and_non_integer_lines_and_continues(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("1 10 11\n2\n\n3 10 x1\n4 011 12\n5 1_0 12\n")
    raw = _read("s3rec", sequences=sequences, items=None)
    assert [(q.line, q.reason) for q in raw.quarantine] == [
        (2, "a user with no items (fewer than 2 tokens)"),
        (4, "non-integer token 'x1'"),
        (6, "non-integer token '1_0'"),
    ]
    assert raw.quarantine[1].text == "3 10 x1"
    # ids are canonical integers so "011" in a sequence matches 11 in the item table
    assert raw.interactions["item"].tolist() == ["10", "11", "11", "12"]
    assert raw.lines_read == 6


def test_s3rec_item_table_columns_become_text_fields(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("1 1 2\n")
    table = tmp_path / "items.tsv"
    table.write_text(
        "item_id\tasin\tkeywords\tattributes\n"
        "1\tB004756YJA\tnail lacquer\tOPI; Makeup\n"
        "2\tB004ZT0SSG\t\tOPI\n"
        "3\tB0020YLEYK\tbalm\n"  # a cell short: quarantined
        "x\tB0\tk\ta\n"
    )
    raw = _read("s3rec", sequences=sequences, items=table)
    assert raw.items.to_dict("records") == [
        {"item": "1", "asin": "B004756YJA", "keywords": "nail lacquer", "attributes": "OPI; Makeup"},
        {"item": "2", "asin": "B004ZT0SSG", "keywords": "", "attributes": "OPI"},
    ]
    assert [(q.file, q.line) for q in raw.quarantine] == [(str(table), 4), (str(table), 5)]


def test_s3rec_item_table_must_start_with_item_id(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("1 1 2\n")
    table = tmp_path / "items.tsv"
    table.write_text("asin\ttitle\nB1\tx\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{table}, line 1: first column is 'asin', not 'item_id'")):
        _read("s3rec", sequences=sequences, items=table)


def test_s3rec_empty_sequences_file_error_names_the_file_and_expected_format(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("")
    with pytest.raises(DataFormatError) as info:
        _read("s3rec", sequences=sequences, items=None)
    assert info.value.message == (
        f"{sequences} is empty; expected one user per line, 'user item item ...' (integer ids separated by spaces)"
    )


def test_s3rec_file_with_only_malformed_lines_is_an_error(tmp_path: Path) -> None:
    sequences = tmp_path / "Beauty.txt"
    sequences.write_text("a b c\n1\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{sequences} has no valid line in 2 lines")):
        _read("s3rec", sequences=sequences, items=None)


@pytest.mark.shared_data
def test_s3rec_reads_the_shared_beauty_files_without_quarantine(shared_beauty: Path) -> None:
    raw = _read("s3rec", sequences=shared_beauty / "Beauty.txt", items=shared_beauty / "items.tsv")
    assert len(raw.interactions) == 198_502
    assert raw.interactions["user"].nunique() == 22_363
    assert len(raw.items) == 12_101
    assert list(raw.items.columns) == ["item", "asin", "keywords", "attributes"]
    assert raw.quarantine == []


# --- recbole-atomic -----------------------------------------------------------------------------


def test_recbole_reads_the_shipped_ml_100k_copy_with_titles(ml100k_data_dir: Path) -> None:
    from flexcode_bench.data.catalogue import load_catalogue
    from flexcode_bench.data.download import fetch_source

    files = fetch_source(load_catalogue().get("ml-100k"), None, ml100k_data_dir / "raw", show_progress=False)
    raw = _read("recbole-atomic", inter=files["inter"].path, item=files["item"].path)
    assert len(raw.interactions) == 100_000
    assert raw.interactions["user"].nunique() == 943
    assert raw.interactions["item"].nunique() == 1682
    assert raw.has_timestamps and raw.interactions["timestamp"].notna().all()
    assert raw.interactions.iloc[0].to_dict() == {"user": "196", "item": "242", "timestamp": 881250949.0}
    assert list(raw.items.columns) == ["item", "title", "year", "genres"]
    toy_story = raw.items.set_index("item").loc["1"].to_dict()
    assert toy_story == {"title": "Toy Story", "year": "1995", "genres": "Animation, Children's, Comedy"}
    assert raw.quarantine == []


def test_recbole_quarantines_rows_with_bad_cells_and_keeps_the_rest(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t100\n"
        "1\t11\t4\n"  # line 3: a cell missing
        "2\t10\t3\tsoon\n"  # line 4: timestamp not a number
        "2\t12\t3\t50\n"
    )
    raw = _read("recbole-atomic", inter=inter, item=None)
    assert raw.interactions.to_dict("list") == {"user": ["1", "2"], "item": ["10", "12"], "timestamp": [100.0, 50.0]}
    assert [(q.line, q.reason) for q in raw.quarantine] == [
        (3, "3 tab-separated cells, header has 4"),
        (4, "timestamp 'soon' is not a number"),
    ]
    assert raw.quarantine[1].text == "2\t10\t3\tsoon"


def test_recbole_without_timestamp_column_uses_file_order(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\n1\t10\n1\t11\n")
    raw = _read("recbole-atomic", inter=inter, item=None)
    assert not raw.has_timestamps and raw.interactions["timestamp"].isna().all()


def test_recbole_item_fields_other_than_movie_fields_keep_their_names(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t10\t1\n")
    item = tmp_path / "x.item"
    item.write_text(
        "item_id:token\tmovie_title:token_seq\tclass:token_seq\tdirector:token\n10\tHeat\tCrime Drama\tMann\n"
    )
    raw = _read("recbole-atomic", inter=inter, item=item)
    assert raw.items.to_dict("records") == [
        {"item": "10", "title": "Heat", "genres": "Crime, Drama", "director": "Mann"}
    ]


def test_recbole_missing_required_column_is_an_error_naming_the_file(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("uid:token\titem_id:token\n1\t10\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{inter}, line 1: missing column(s) ['user_id']")):
        _read("recbole-atomic", inter=inter, item=None)


def test_recbole_empty_inter_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("")
    with pytest.raises(DataFormatError, match=re.escape(f"{inter} is empty")):
        _read("recbole-atomic", inter=inter, item=None)


# --- movielens-dat ------------------------------------------------------------------------------


def _ml1m_zip(path: Path, ratings: str, movies: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", ratings.encode("latin-1"))
        zf.writestr("ml-1m/movies.dat", movies.encode("latin-1"))
        zf.writestr("ml-1m/users.dat", "1::F::1::10::48067\n")
    return path


def test_movielens_reads_ratings_and_splits_title_year_and_genres(tmp_path: Path) -> None:
    archive = _ml1m_zip(
        tmp_path / "ml-1m.zip",
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Seven (Se7en) (1995)::Crime|Thriller\n"
        "3::Misérables, Les (1995)::Drama|Musical\n"
        "4::Untitled::Comedy\n",
    )
    raw = _read("movielens-dat", archive=archive)
    assert raw.interactions.to_dict("list") == {
        "user": ["1", "1", "2"],
        "item": ["1193", "661", "1193"],
        "timestamp": [978300760.0, 978302109.0, 978298413.0],
    }
    assert raw.items.to_dict("records") == [
        {"item": "1193", "title": "One Flew Over the Cuckoo's Nest", "year": "1975", "genres": "Drama"},
        {"item": "661", "title": "Seven (Se7en)", "year": "1995", "genres": "Crime, Thriller"},
        {"item": "3", "title": "Misérables, Les", "year": "1995", "genres": "Drama, Musical"},
        {"item": "4", "title": "Untitled", "year": "", "genres": "Comedy"},
    ]
    assert raw.has_timestamps and raw.quarantine == [] and raw.lines_read == 7


def test_movielens_quarantines_malformed_rating_lines_with_their_line_numbers(tmp_path: Path) -> None:
    archive = _ml1m_zip(
        tmp_path / "ml-1m.zip", "1::10::5::100\n1::11::5\n\n2::10::4::later\n2::11::4::7\n", "10::A (1999)::Drama\n"
    )
    raw = _read("movielens-dat", archive=archive)
    assert raw.interactions["item"].tolist() == ["10", "11"]
    assert [(q.file, q.line) for q in raw.quarantine] == [
        (f"{archive}!ml-1m/ratings.dat", 2),
        (f"{archive}!ml-1m/ratings.dat", 4),
    ]


def test_movielens_archive_without_ratings_is_an_error_naming_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-1m/movies.dat", "1::A (1999)::Drama\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{archive} has no ratings.dat")):
        _read("movielens-dat", archive=archive)


def test_movielens_truncated_archive_asks_for_a_new_download(tmp_path: Path) -> None:
    archive = _ml1m_zip(tmp_path / "ml-1m.zip", "1::10::5::100\n" * 100, "10::A (1999)::Drama\n")
    archive.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(DataFormatError, match="truncated or not a zip archive"):
        _read("movielens-dat", archive=archive)


def test_movielens_empty_ratings_file_is_an_error_naming_it(tmp_path: Path) -> None:
    archive = _ml1m_zip(tmp_path / "ml-1m.zip", "", "10::A (1999)::Drama\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{archive}!ml-1m/ratings.dat is empty")):
        _read("movielens-dat", archive=archive)


def test_reader_output_follows_the_raw_dataset_contract(tmp_path: Path) -> None:
    archive = _ml1m_zip(tmp_path / "ml-1m.zip", "1::10::5::100\n", "10::A (1999)::Drama\n")
    raw = _read("movielens-dat", archive=archive)
    assert list(raw.interactions.columns) == ["user", "item", "timestamp"]
    assert all(isinstance(v, str) for v in pd.concat([raw.interactions["user"], raw.interactions["item"]]))
    assert raw.interactions["timestamp"].dtype == np.float64
