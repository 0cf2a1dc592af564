"""Shared, read-only run records for the reporting tests (writing runs is their slow part)."""

from __future__ import annotations

import pytest

from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import three_models


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """``(results_dir, values)`` of :func:`three_models`; tests must not write into it."""
    results = tmp_path_factory.mktemp("toy-results")
    return results, three_models(results)


@pytest.fixture(scope="session")
def toy_report(toy):
    """The default report of ``toy`` with bucket columns (baseline flexcode, t-test, Holm, seeds pooled)."""
    return build_report(toy[0], metrics=["recall@10", "ndcg@10"], by_popularity=True)
