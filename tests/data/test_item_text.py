from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.data.item_text import check_template, render_item_text, render_item_texts, template_fields
from flexcode_bench.errors import ConfigError

AMAZON = "title: {title}; brand: {brand}; categories: {categories}; price: {price}"
FULL = {"title": "Rose Lipstick", "brand": "ACME", "categories": "Beauty, Makeup", "price": "$12.99"}


def test_all_fields_present_renders_every_segment() -> None:
    assert (
        render_item_text(AMAZON, FULL) == "title: Rose Lipstick; brand: ACME; categories: Beauty, Makeup; price: $12.99"
    )


def test_a_segment_whose_placeholder_is_empty_is_dropped_with_its_separator() -> None:
    assert (
        render_item_text(AMAZON, {**FULL, "brand": ""})
        == "title: Rose Lipstick; categories: Beauty, Makeup; price: $12.99"
    )


def test_dropping_the_first_and_last_segments_leaves_no_stray_separator() -> None:
    fields = {**FULL, "title": "", "price": ""}
    assert render_item_text(AMAZON, fields) == "brand: ACME; categories: Beauty, Makeup"


def test_all_fields_empty_renders_an_empty_string() -> None:
    assert render_item_text(AMAZON, dict.fromkeys(FULL, "")) == ""


def test_whitespace_only_values_count_as_empty() -> None:
    assert render_item_text("a: {a}; b: {b}", {"a": "  ", "b": "x"}) == "b: x"


def test_a_segment_is_kept_when_any_of_its_placeholders_has_a_value() -> None:
    assert (
        render_item_text("{title} ({year}); genres: {genres}", {"title": "Heat", "year": "", "genres": ""}) == "Heat ()"
    )


def test_a_segment_without_placeholders_is_always_kept() -> None:
    assert render_item_text("movie; title: {title}", {"title": ""}) == "movie"


def test_template_fields_lists_placeholders_once_in_order() -> None:
    assert template_fields("{b} and {a}; {b}") == ["b", "a"]
    assert template_fields(AMAZON) == ["title", "brand", "categories", "price"]


def test_escaped_braces_are_literal_text_not_placeholders() -> None:
    assert template_fields("{{raw}}: {title}") == ["title"]
    assert render_item_text("{{raw}}: {title}", {"title": "x"}) == "{raw}: x"


def test_unknown_placeholder_error_names_the_field_and_the_available_fields() -> None:
    with pytest.raises(ConfigError) as info:
        render_item_text("title: {title}; colour: {colour}", {"title": "x", "brand": "y"})
    assert "'colour'" in info.value.message
    assert "title, brand" in info.value.message


def test_unknown_placeholder_in_vectorised_rendering_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'price'"):
        render_item_texts("{price}", pd.DataFrame({"title": ["x"]}))


@pytest.mark.parametrize("template", ["{}", "{0}", "{title.__class__}", "{title[0]}"])
def test_placeholders_that_are_not_plain_names_are_rejected_not_evaluated(template: str) -> None:
    with pytest.raises(ConfigError):
        render_item_text(template, {"title": "x"})


def test_unbalanced_braces_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid format string"):
        template_fields("title: {title")


def test_check_template_returns_the_fields_when_all_are_available() -> None:
    assert check_template("{a}; {b}", ["b", "a", "c"]) == ["a", "b"]


def test_format_spec_is_applied_like_str_format() -> None:
    assert render_item_text("title: {title:.4}", {"title": "Lipstick"}) == "title: Lips"


def test_vectorised_rendering_treats_missing_values_as_empty() -> None:
    items = pd.DataFrame(
        {
            "title": ["A", None, pd.NA],
            "brand": ["B", "", "C"],
            "categories": ["", "", ""],
            "price": ["", "", "$1.00"],
        }
    )
    assert render_item_texts(AMAZON, items) == ["title: A; brand: B", "", "brand: C; price: $1.00"]


def test_vectorised_rendering_of_no_rows_is_an_empty_list() -> None:
    assert render_item_texts(AMAZON, pd.DataFrame(columns=list(FULL))) == []


_value = st.sampled_from(["", " ", "x", "Rose; red", "{title}", "$3.00"])


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({k: _value for k in FULL}), min_size=1, max_size=8))
def test_vectorised_rendering_matches_one_item_rendering(rows: list[dict[str, str]]) -> None:
    template = "intro; " + AMAZON + "; {title} by {brand}"
    assert render_item_texts(template, pd.DataFrame(rows)) == [render_item_text(template, r) for r in rows]
