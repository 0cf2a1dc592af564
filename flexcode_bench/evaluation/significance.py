"""Paired significance tests over identical users, multiple-comparison corrections and effect sizes.

Every function takes two per-user score arrays ``a`` (the model) and ``b`` (the baseline) aligned on
the same users, so ``a[i] - b[i]`` is user ``i``'s difference (DESIGN.md §3). Pure numpy/scipy.

Conventions, fixed here so that every caller agrees:

- all tests are **two-sided**; when every difference is 0 the p-value is 1.0 (no evidence at all);
- the randomization test returns ``(b + 1) / (m + 1)`` for ``b`` of ``m`` sign-flip resamples at
  least as extreme as the observed statistic, so it is never 0 and is identical for one seed;
- adjusted p-values (Holm, Benjamini–Hochberg) are monotone in the raw p-values and capped at 1;
  NaN p-values (untestable comparisons) stay NaN and do not count in the family.

Example:
    >>> a, b = np.array([0.5, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, 0.5])
    >>> c = compare(a, b, model="flexcode", baseline="sasrec", metric="ndcg@10")
    >>> (c.wins, c.ties, c.losses), round(c.abs_diff, 3)
    ((2, 2, 0), 0.25)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from flexcode_bench.errors import ConfigError, EvaluationInputError
from flexcode_bench.registry import did_you_mean

TestName = Literal["ttest", "randomization", "wilcoxon"]
CorrectionName = Literal["holm", "bh", "none"]
TESTS: tuple[str, ...] = get_args(TestName)
CORRECTIONS: tuple[str, ...] = get_args(CorrectionName)
TEST_LABELS = {"ttest": "paired t-test", "randomization": "paired randomization test", "wilcoxon": "Wilcoxon signed-rank test"}
CORRECTION_LABELS = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no correction"}

# Elements per resampling chunk: bounds memory (~16 MB of float64) whatever the number of users.
_CHUNK_ELEMENTS = 2_000_000
# Grouping equal values and drawing counts (binomial / multinomial) costs ~20x more per group than a
# direct draw per user, so it pays only when there are 20x fewer distinct values than users (recall
# diffs take 3 values, NDCG diffs of one seed a few hundred).
_GROUPING_GAIN = 20


# ==== tests =====================================================================================


def paired_ttest(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test (``scipy.stats.ttest_rel``); 1.0 when all differences are 0, NaN for < 2 users."""
    from scipy import stats

    a, b = _paired(a, b)
    if not np.any(a - b):
        return 1.0
    if a.size < 2:
        return float("nan")
    with warnings.catch_warnings():  # constant non-zero differences: t = ±inf, p = 0, as scipy says
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(a, b).pvalue)


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank test, zero differences dropped (``zero_method="wilcox"``); 1.0 if all are 0."""
    from scipy import stats

    a, b = _paired(a, b)
    if not np.any(a - b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)


def randomization_test(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Fisher's paired randomization (sign-flip) test of the mean difference, two-sided.

    Each resample flips the sign of every user's difference with probability 1/2; the p-value is
    ``(hits + 1) / (n_resamples + 1)``, where ``hits`` counts resamples whose ``|sum|`` reaches the
    observed one. The same ``seed`` gives the same p-value.
    """
    _check_resamples(n_resamples)
    a, b = _paired(a, b)
    diff = a - b
    diff = diff[diff != 0]  # a zero difference is the same under either sign
    if diff.size == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    magnitudes, inverse = np.unique(np.abs(diff), return_inverse=True)
    if magnitudes.size * _GROUPING_GAIN < diff.size:
        # Same distribution, cheaper: within a group of c equal |d|, the signed sum is |d|·(2·Binomial(c, ½) − c).
        counts = np.bincount(inverse)
        observed = abs(float(magnitudes @ np.bincount(inverse, weights=np.sign(diff))))

        def draw(size: int) -> np.ndarray:
            return np.abs((2 * rng.binomial(counts, 0.5, size=(size, counts.size)) - counts) @ magnitudes)

        width = counts.size
    else:
        observed = abs(float(diff.sum()))

        def draw(size: int) -> np.ndarray:
            return np.abs((rng.integers(0, 2, size=(size, diff.size), dtype=np.int8) * 2 - 1) @ diff)

        width = diff.size
    # Summation order differs between the observed and resampled sums; do not lose exact ties to rounding.
    tolerance = 1e-10 * float(np.abs(diff).sum())
    hits = sum(int(np.count_nonzero(draw(size) >= observed - tolerance)) for size in _chunks(n_resamples, width))
    return (hits + 1) / (n_resamples + 1)


def run_test(a: np.ndarray, b: np.ndarray, test: str = "ttest", *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """The p-value of the named paired test (``"ttest"``, ``"randomization"`` or ``"wilcoxon"``)."""
    check_choice(test, TESTS, "test")
    if test == "randomization":
        return randomization_test(a, b, n_resamples=n_resamples, seed=seed)
    return paired_ttest(a, b) if test == "ttest" else wilcoxon_test(a, b)


# ==== corrections ===============================================================================


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down), in the input order."""
    # i-th smallest (0-based) times m - i, then a running maximum keeps the order of the raw p-values.
    return _stepwise(pvalues, lambda p, m: (m - np.arange(m)) * p, np.maximum.accumulate)


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (false discovery rate) adjusted p-values (step-up), in the input order."""
    # i-th smallest (1-based) times m / i, then a running minimum from the largest down.
    return _stepwise(pvalues, lambda p, m: p * m / np.arange(1, m + 1), lambda x: np.minimum.accumulate(x[::-1])[::-1])


def adjust(pvalues: Sequence[float] | np.ndarray, correction: str = "holm") -> np.ndarray:
    """Adjusted p-values for ``"holm"``, ``"bh"`` or ``"none"`` (the raw p-values)."""
    check_choice(correction, CORRECTIONS, "correction")
    if correction == "holm":
        return holm(pvalues)
    if correction == "bh":
        return benjamini_hochberg(pvalues)
    return _pvalues(pvalues)[0].copy()


# ==== effect sizes and intervals ================================================================


def bootstrap_ci(
    diff: np.ndarray, *, n_resamples: int = 10_000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval of ``mean(diff)``, resampling users."""
    _check_resamples(n_resamples)
    _check_alpha(alpha)
    diff = _finite_1d(diff, "diff")
    rng = np.random.default_rng(seed)
    n = diff.size
    values, counts = np.unique(diff, return_counts=True)
    means = np.empty(n_resamples)
    start = 0
    if values.size * _GROUPING_GAIN < n:
        # Resampling n users = drawing how many of each distinct value: a multinomial over the groups.
        for size in _chunks(n_resamples, values.size):
            means[start : start + size] = rng.multinomial(n, counts / n, size=size) @ values / n
            start += size
    else:
        for size in _chunks(n_resamples, n):
            means[start : start + size] = diff[rng.integers(0, n, size=(size, n))].mean(axis=1)
            start += size
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def win_tie_loss(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """Users where ``a`` beats, equals (within 1e-12) or trails ``b``."""
    a, b = _paired(a, b)
    diff = a - b
    ties = np.abs(diff) <= 1e-12  # seed means of equal values may differ in the last bit
    return int(np.count_nonzero(~ties & (diff > 0))), int(np.count_nonzero(ties)), int(np.count_nonzero(~ties & (diff < 0)))


def paired_cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d for paired samples (d_z): ``mean(diff) / std(diff, ddof=1)``; 0 when the std is 0 or n < 2."""
    a, b = _paired(a, b)
    diff = a - b
    if diff.size < 2:
        return 0.0
    std = float(diff.std(ddof=1))
    return float(diff.mean()) / std if std > 0 else 0.0


# ==== one comparison ============================================================================


@dataclass(frozen=True)
class Comparison:
    """``model`` against ``baseline`` on one metric (and bucket), paired over the same users.

    ``abs_diff = mean_a - mean_b``; ``rel_diff = abs_diff / mean_b`` (NaN when ``mean_b`` is 0);
    ``ci_low``/``ci_high`` bound ``abs_diff`` (bootstrap); ``wins`` counts users where the model is
    better. ``p_adjusted`` and ``significant`` are set by :func:`adjust_comparisons` for a family;
    ``seed`` is None when seeds were pooled.
    """

    model: str
    baseline: str
    metric: str
    bucket: str | None
    n_users: int
    mean_a: float
    mean_b: float
    abs_diff: float
    rel_diff: float
    ci_low: float
    ci_high: float
    effect_size: float
    wins: int
    ties: int
    losses: int
    p_value: float
    p_adjusted: float
    significant: bool
    seed: int | None = None


def compare(
    a: np.ndarray,
    b: np.ndarray,
    *,
    model: str,
    baseline: str,
    metric: str,
    bucket: str | None = None,
    test: str = "ttest",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
    run_seed: int | None = None,
) -> Comparison:
    """Compare per-user scores ``a`` (model) with ``b`` (baseline): test, effect size, CI, win/tie/loss.

    The result is uncorrected (``p_adjusted == p_value``); correct a family with :func:`adjust_comparisons`.
    ``seed`` drives the resampling; ``run_seed`` only labels a per-seed comparison.
    """
    _check_alpha(alpha)
    a, b = _paired(a, b)
    p = run_test(a, b, test, n_resamples=n_resamples, seed=seed)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    low, high = bootstrap_ci(a - b, n_resamples=n_resamples, alpha=alpha, seed=seed)
    wins, ties, losses = win_tie_loss(a, b)
    return Comparison(
        model=model, baseline=baseline, metric=metric, bucket=bucket, n_users=int(a.size),
        mean_a=mean_a, mean_b=mean_b, abs_diff=mean_a - mean_b,
        rel_diff=(mean_a - mean_b) / mean_b if mean_b != 0 else float("nan"),
        ci_low=low, ci_high=high, effect_size=paired_cohens_d(a, b), wins=wins, ties=ties, losses=losses,
        p_value=p, p_adjusted=p, significant=bool(p < alpha), seed=run_seed,
    )  # fmt: skip


def adjust_comparisons(comparisons: Sequence[Comparison], correction: str = "holm", alpha: float = 0.05) -> list[Comparison]:
    """The comparisons of one family with ``p_adjusted`` and ``significant`` (``p_adjusted < alpha``) set."""
    _check_alpha(alpha)
    adjusted = adjust([c.p_value for c in comparisons], correction)
    return [
        dataclasses.replace(c, p_adjusted=float(p), significant=bool(np.isfinite(p) and p < alpha))
        for c, p in zip(comparisons, adjusted)
    ]


# ==== validation ================================================================================


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    """Raise a ConfigError naming the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}{did_you_mean(str(value), list(choices))}", hint=f"use one of {', '.join(choices)}")


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _finite_1d(a, "a"), _finite_1d(b, "b")
    if a.shape != b.shape:
        raise EvaluationInputError(
            f"paired samples need one value per user on both sides, got {a.size} and {b.size} values",
            hint="align both runs on the same users first",
        )
    return a, b


def _finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise EvaluationInputError(f"{name} must be a non-empty 1-D array of per-user scores, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise EvaluationInputError(f"{name} has NaN or infinite values")
    return array


def _pvalues(pvalues: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise EvaluationInputError(f"p-values must be a 1-D sequence, got shape {p.shape}")
    finite = np.isfinite(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise EvaluationInputError("p-values must lie in [0, 1]")
    return p, finite


def _stepwise(pvalues: Sequence[float] | np.ndarray, scale: Callable, monotone: Callable) -> np.ndarray:
    p, finite = _pvalues(pvalues)
    order = np.argsort(p[finite], kind="stable")
    adjusted = np.empty(order.size)
    adjusted[order] = np.minimum(monotone(scale(p[finite][order], order.size)), 1.0)
    out = np.full(p.shape, np.nan)  # NaN (untestable) stays NaN and is not part of the family
    out[finite] = adjusted
    return out


def _check_resamples(n_resamples: int) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer, got {n_resamples!r}")


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}", hint="the usual choice is 0.05")


def _chunks(total: int, width: int) -> list[int]:
    """Sizes of resampling chunks of at most ~_CHUNK_ELEMENTS elements each, summing to ``total``."""
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    return [min(step, total - start) for start in range(0, total, step)]
