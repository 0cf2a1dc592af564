"""Specification of build_report: cells, paired comparisons, the correction family and the guards."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from flexcode_bench.errors import ConfigError, FlexbenchError
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import PROTOCOL, write_fake_run

METRICS = ["recall@10", "ndcg@10"]


def pooled(values, model, metric, users=slice(None)):
    return np.mean([values[model][seed][metric] for seed in (0, 1)], axis=0)[users]


def hand_holm(pvalues: list[float]) -> list[float]:
    """Holm by the textbook recipe: sort, multiply the i-th smallest by (m - i), running max, cap at 1."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * pvalues[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def test_cells_are_mean_and_sample_std_over_seed_means(toy):
    results, values = toy
    report = build_report(results, metrics=METRICS)
    row = next(r for r in report.rows if r.model == "sasrec")
    seed_means = [values["sasrec"][s]["ndcg@10"].mean() for s in (0, 1)]
    cell = row.overall["ndcg@10"]
    assert (cell.mean, cell.std, cell.n_seeds) == pytest.approx((np.mean(seed_means), np.std(seed_means, ddof=1), 2))
    assert report.best("toy", "ndcg@10") == "tiger"


def test_pooled_p_values_equal_scipy_and_holm_equals_the_hand_computation(toy):
    results, values = toy
    report = build_report(results, metrics=METRICS)  # defaults: baseline flexcode, t-test, Holm, pool
    found = report.comparisons["toy"]
    assert [(c.model, c.metric) for c in found] == [("sasrec", "recall@10"), ("sasrec", "ndcg@10"), ("tiger", "recall@10"), ("tiger", "ndcg@10")]
    expected = [stats.ttest_rel(pooled(values, c.model, c.metric), pooled(values, "flexcode", c.metric)).pvalue for c in found]
    expected[2] = 1.0  # tiger's recall is flexcode's reversed: equal means, scipy says t = 0 → p = 1
    assert [c.p_value for c in found] == pytest.approx(expected, rel=1e-10)
    assert [c.p_adjusted for c in found] == pytest.approx(hand_holm(expected), rel=1e-10)
    assert report.tables["toy"].family_size == 4


def test_markers_sit_on_exactly_the_cells_significant_after_correction(toy):
    results, _ = toy
    report = build_report(results, metrics=METRICS)
    marked = {(m, metric) for m in ("flexcode", "sasrec", "tiger") for metric in METRICS if report.significant("toy", m, metric)}
    # tiger's NDCG gain has raw p ≈ 0.025 but Holm lifts it above 0.05: only sasrec's NDCG loss stays
    assert marked == {("sasrec", "ndcg@10")}
    uncorrected = build_report(results, metrics=METRICS, correction="none")
    assert {(c.model, c.metric) for c in uncorrected.comparisons["toy"] if c.significant} == {("sasrec", "ndcg@10"), ("tiger", "ndcg@10")}


def test_by_popularity_adds_bucket_comparisons_to_the_family(toy):
    results, values = toy
    report = build_report(results, metrics=METRICS, by_popularity=True)
    assert report.tables["toy"].family_size == 2 * 2 * 3  # models × metrics × (overall, head, tail)
    assert report.bucket_sizes["toy"] == {"head": 20, "tail": 20}
    (head,) = report.comparisons_for("toy", "sasrec", "ndcg@10", "head")
    a, b = pooled(values, "sasrec", "ndcg@10", slice(0, 20)), pooled(values, "flexcode", "ndcg@10", slice(0, 20))
    assert head.n_users == 20 and head.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_per_seed_mode_compares_seed_with_seed_and_marks_only_when_every_seed_is_significant(toy):
    results, values = toy
    report = build_report(results, metrics=METRICS, seeds="per-seed")
    per_seed = report.comparisons_for("toy", "sasrec", "ndcg@10")
    assert [c.seed for c in per_seed] == [0, 1]
    a, b = values["sasrec"][1]["ndcg@10"], values["flexcode"][1]["ndcg@10"]
    assert per_seed[1].p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert report.tables["toy"].family_size == 8
    assert report.significant("toy", "sasrec", "ndcg@10") and not report.significant("toy", "tiger", "recall@10")


@pytest.mark.parametrize("test", ["randomization", "wilcoxon"])
def test_other_tests_are_used_when_asked(toy, test):
    results, values = toy
    report = build_report(results, metrics=["ndcg@10"], test=test, n_resamples=999)
    (c,) = report.comparisons_for("toy", "tiger", "ndcg@10")
    if test == "wilcoxon":
        a, b = pooled(values, "tiger", "ndcg@10"), pooled(values, "flexcode", "ndcg@10")
        assert c.p_value == pytest.approx(stats.wilcoxon(a, b).pvalue)
    else:
        assert round(c.p_value * 1000) == pytest.approx(c.p_value * 1000)  # (b + 1) / (m + 1), m = 999
        assert build_report(results, metrics=["ndcg@10"], test=test, n_resamples=999).comparisons == report.comparisons


def test_absent_baseline_means_no_comparisons_and_a_note(toy):
    results, _ = toy
    report = build_report(results, metrics=METRICS, baseline_model="bert4rec")
    assert report.comparisons["toy"] == [] and report.tables["toy"].family_size == 0
    assert "baseline 'bert4rec' has no runs" in report.tables["toy"].notes[0]
    assert build_report(results, metrics=METRICS, baseline_model="sasrec").comparisons_for("toy", "flexcode", "ndcg@10")


def test_runs_on_different_users_are_an_error_naming_both_runs(tmp_path):
    a = write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.1, 0.2, 0.3]})
    b = write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.3]}, users=[0, 1, 5])
    with pytest.raises(FlexbenchError, match="different test users") as error:
        build_report(tmp_path, metrics=["ndcg@10"])
    assert str(a) in str(error.value) and str(b) in str(error.value)


def test_runs_with_other_targets_for_the_same_users_are_refused(tmp_path):
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.1, 0.2]}, targets=[3, 4])
    write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2]}, targets=[3, 9])
    with pytest.raises(FlexbenchError, match=r"\(user 1, target 4\) vs \(user 1, target 9\)"):
        build_report(tmp_path, metrics=["ndcg@10"])


def test_mixed_protocols_are_refused_unless_allowed(tmp_path):
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.3, 0.2, 0.4]})
    other = write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.3]}, protocol={**PROTOCOL, "tie_policy": "optimistic"})
    with pytest.raises(ConfigError, match=r"tie policy \(tie_policy\) is \"pessimistic\" in .* but \"optimistic\" in") as error:
        build_report(tmp_path, metrics=["ndcg@10"])
    assert str(other) in str(error.value) and "--allow-mixed" in str(error.value)
    report = build_report(tmp_path, metrics=["ndcg@10"], allow_mixed=True)
    assert report.tables["toy"].mixed_fields == ["tie_policy"]
    assert "tie_policy" in report.tables["toy"].notes[0]


def test_metric_selection_by_k_and_its_errors(toy):
    results, _ = toy
    assert build_report(results, ks=[10]).metrics == ("recall@10", "ndcg@10")
    with pytest.raises(ConfigError, match="not both"):
        build_report(results, metrics=["ndcg@10"], ks=[10])
    with pytest.raises(ConfigError, match="'ndcg@5' is not in run .*did you mean 'ndcg@10'"):
        build_report(results, metrics=["ndcg@5"])


@pytest.mark.parametrize(
    ("option", "message"),
    [({"test": "t-test"}, "did you mean 'ttest'"), ({"correction": "bonferroni"}, "unknown correction"),
     ({"seeds": "mean"}, "unknown seed handling"), ({"alpha": 0.0}, "alpha"), ({"split": "train"}, "unknown split")],
)  # fmt: skip
def test_bad_options_are_config_errors(toy, option, message):
    with pytest.raises(ConfigError, match=message):
        build_report(toy[0], metrics=METRICS, **option)


def test_a_bucket_with_one_user_is_untestable_by_t_test_and_left_out_of_the_family(tmp_path):
    buckets = ["head", "head", "head", "cold"]
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.5, 0.4, 0.6, 0.3]}, buckets=buckets)
    write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.3, 0.0]}, buckets=buckets)
    report = build_report(tmp_path, metrics=["ndcg@10"], by_popularity=True)
    (cold,) = report.comparisons_for("toy", "sasrec", "ndcg@10", "cold")
    assert np.isnan(cold.p_value) and not cold.significant
    assert report.tables["toy"].family_size == 2  # overall and head


def test_bucket_tables_default_to_the_at_10_pair_and_plain_tables_to_at_5_and_at_10(tmp_path):
    values = {m: [0.1, 0.2] for m in ("recall@5", "recall@10", "ndcg@5", "ndcg@10")}
    write_fake_run(tmp_path, model="sasrec", values=values)
    assert build_report(tmp_path).metrics == ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
    assert build_report(tmp_path, by_popularity=True).metrics == ("recall@10", "ndcg@10")


def test_a_column_where_every_model_ties_has_no_best_but_a_shared_lead_bolds_both(tmp_path):
    buckets = ["head", "head", "cold"]
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.5, 0.4, 0.0]}, buckets=buckets)
    write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.0]}, buckets=buckets)
    write_fake_run(tmp_path, model="tiger", values={"ndcg@10": [0.4, 0.5, 0.0]}, buckets=buckets)
    report = build_report(tmp_path, metrics=["ndcg@10"], by_popularity=True, baseline_model=None)
    assert report.best_models("toy", "ndcg@10", "cold") == []
    assert report.best_models("toy", "ndcg@10", "head") == ["flexcode", "tiger"]
