"""Specification of the paired tests, corrections and effect sizes in evaluation/significance.py."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from flexcode_bench.errors import ConfigError
from flexcode_bench.evaluation.ranking import EvaluationInputError
from flexcode_bench.evaluation.significance import (
    adjust,
    adjust_comparisons,
    benjamini_hochberg,
    bootstrap_ci,
    compare,
    holm,
    paired_cohens_d,
    paired_ttest,
    randomization_test,
    run_test,
    wilcoxon_test,
    win_tie_loss,
)

rng = np.random.default_rng(0)
A = rng.uniform(0, 1, 50)
B = np.clip(A - 0.05 + rng.normal(0, 0.2, 50), 0, 1)


# ==== tests against scipy =======================================================================


def test_ttest_equals_scipy_ttest_rel():
    assert paired_ttest(A, B) == pytest.approx(stats.ttest_rel(A, B).pvalue, rel=1e-12)


def test_wilcoxon_equals_scipy_with_zero_differences_dropped():
    b = B.copy()
    b[:5] = A[:5]  # five zero differences
    assert wilcoxon_test(A, b) == pytest.approx(stats.wilcoxon(A, b, zero_method="wilcox").pvalue, rel=1e-12)


@pytest.mark.parametrize("test", ["ttest", "randomization", "wilcoxon"])
def test_given_identical_scores_then_p_is_one(test):
    assert run_test(A, A.copy(), test) == 1.0


def test_given_constant_nonzero_differences_then_ttest_p_is_zero():
    assert paired_ttest(A + 0.1, A) == 0.0


def test_given_one_user_then_ttest_is_untestable():
    assert math.isnan(paired_ttest(np.array([1.0]), np.array([0.0])))


# ==== randomization test ========================================================================


def test_randomization_p_is_identical_for_one_seed_and_has_the_b_plus_one_over_m_plus_one_form():
    m = 999
    first = randomization_test(A, B, n_resamples=m, seed=3)
    assert randomization_test(A, B, n_resamples=m, seed=3) == first
    hits = first * (m + 1) - 1
    assert hits == pytest.approx(round(hits), abs=1e-9) and 0 <= round(hits) <= m
    assert first >= 1 / (m + 1)  # never 0


def test_randomization_p_approximates_the_exact_sign_flip_p_value():
    a, b = A[:10], B[:10]
    diff = a - b
    observed = abs(diff.sum())
    flips = np.array(list(itertools.product([-1, 1], repeat=10)))
    exact = np.mean(np.abs(flips @ diff) >= observed - 1e-12)
    assert randomization_test(a, b, n_resamples=20_000) == pytest.approx(exact, abs=0.01)


def test_randomization_on_binary_metrics_matches_the_binomial_p_value():
    # Recall differences are -1/0/+1: the sign-flip p is P(|2·Bin(c, ½) − c| ≥ |wins − losses|).
    a = np.r_[np.ones(30), np.zeros(12), np.ones(400)]
    b = np.r_[np.zeros(30), np.ones(12), np.ones(400)]
    c, observed = 42, 18
    exact = 2 * stats.binom.sf((c + observed) / 2 - 1, c, 0.5)
    assert randomization_test(a, b, n_resamples=20_000) == pytest.approx(exact, abs=0.005)


# ==== corrections ===============================================================================


def test_holm_equals_a_hand_computation():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.04, 0.06) = 0.06
    assert holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_equals_a_hand_computation():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04, 0.04·4/4 = 0.04
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_adjusted_p_values_are_monotone_at_least_raw_and_capped_at_one(p):
    raw = np.array(p)
    order = np.argsort(raw, kind="stable")
    for adjusted in (holm(raw), benjamini_hochberg(raw)):
        assert np.all(np.diff(adjusted[order]) >= -1e-12)
        assert np.all(adjusted >= raw - 1e-12) and np.all(adjusted <= 1.0)


def test_nan_p_values_stay_nan_and_are_not_counted_in_the_family():
    assert holm([0.01, float("nan"), 0.02]).tolist()[::2] == pytest.approx([0.02, 0.02])
    assert math.isnan(holm([0.01, float("nan")])[1])


def test_none_correction_returns_raw_p_values_and_unknown_names_suggest_the_right_one():
    assert adjust([0.2, 0.01], "none").tolist() == [0.2, 0.01]
    with pytest.raises(ConfigError, match="did you mean 'holm'"):
        adjust([0.1], "hlom")


# ==== effect sizes, intervals, counts ===========================================================


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    diff = A - B
    low, high = bootstrap_ci(diff, n_resamples=2000, seed=1)
    assert low < diff.mean() < high
    assert bootstrap_ci(diff, n_resamples=2000, seed=1) == (low, high)
    # close to the normal-theory interval for 50 users
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert high - low == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_ci_of_binary_differences_uses_the_same_percentiles():
    diff = np.r_[np.ones(30), -np.ones(10), np.zeros(960)]  # grouped (multinomial) path
    low, high = bootstrap_ci(diff, n_resamples=4000)
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert low == pytest.approx(diff.mean() - half, abs=0.004) and high == pytest.approx(diff.mean() + half, abs=0.004)


def test_bootstrap_ci_of_a_constant_is_that_constant():
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)


def test_win_tie_loss_and_paired_cohens_d():
    a, b = np.array([1.0, 0.5, 0.0, 0.2]), np.array([0.0, 0.5, 1.0, 0.1])
    assert win_tie_loss(a, b) == (2, 1, 1)
    diff = a - b
    assert paired_cohens_d(a, b) == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert paired_cohens_d(a + 1, a) == 0.0  # no spread: no standardised effect


def test_compare_fills_every_field_and_adjust_comparisons_sets_the_family_verdict():
    c = compare(A, B, model="flexcode", baseline="sasrec", metric="ndcg@10", n_resamples=500)
    assert c.mean_a == pytest.approx(A.mean()) and c.abs_diff == pytest.approx(A.mean() - B.mean())
    assert c.rel_diff == pytest.approx((A.mean() - B.mean()) / B.mean())
    assert c.ci_low < c.abs_diff < c.ci_high
    assert c.wins + c.ties + c.losses == c.n_users == 50
    assert c.p_value == c.p_adjusted == pytest.approx(stats.ttest_rel(A, B).pvalue)
    other = compare(A, A, model="tiger", baseline="sasrec", metric="ndcg@10", n_resamples=500)
    adjusted = adjust_comparisons([c, other], "holm", alpha=0.05)
    assert adjusted[0].p_adjusted == pytest.approx(min(1.0, 2 * c.p_value))
    assert adjusted[0].significant == (adjusted[0].p_adjusted < 0.05) and not adjusted[1].significant


def test_unpaired_inputs_are_refused():
    with pytest.raises(EvaluationInputError, match="one value per user"):
        paired_ttest(A, B[:-1])
    with pytest.raises(EvaluationInputError, match="NaN"):
        win_tie_loss(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ConfigError, match="alpha"):
        bootstrap_ci(A, alpha=1.5)
