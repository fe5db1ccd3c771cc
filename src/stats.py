"""The statistics of a comparison: confidence intervals, tests between two cells, Holm's correction.

Over seeds a metric is one number per run: a t-interval, and Welch's t-test between two cells (no
equal variances assumed). Over test items every run scores the same items: a bootstrap interval of
one run's mean, and a paired sign-flip permutation test between two cells. BLEU is not a mean over
items, so its interval and paired test (approximate randomisation) come from sacrebleu. Random
draws take a fixed seed: the same runs give the same p-values.
"""

import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats

LEVEL = 0.95
RESAMPLES = 9999


class Interval(NamedTuple):
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"


def t_interval(values: list[float], level: float = LEVEL) -> Interval:
    """The mean of per-seed values and its t-interval (n - 1 degrees of freedom); a point for one value."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, mean, mean)
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return Interval(mean, mean - half, mean + half)


def weighted_mean(values, weights=None) -> float:
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    return float((x * w).sum() / w.sum())


def bootstrap_interval(
    values: list[float], weights: list[float] | None = None, resamples: int = 2000, seed: int = 0, level: float = LEVEL
) -> Interval:
    """The (weighted) mean over test items and its percentile bootstrap interval: items drawn with
    replacement `resamples` times. Weights make it a ratio of sums (e.g. NLL per symbol, a word's
    NLL weighted by its symbols), as the test metric is."""
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))  # (R, N)
    means = (x[idx] * w[idx]).sum(1) / w[idx].sum(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(weighted_mean(x, w), float(low), float(high))


def welch(a: list[float], b: list[float]) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of per-seed values; NaN with fewer than two each."""
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread at all: equal means are no difference, else certain
        return (0.0, 1.0) if np.mean(a) == np.mean(b) else (float("inf") * np.sign(np.mean(a) - np.mean(b)), 0.0)
    with warnings.catch_warnings():  # seeds that agree to the last digits: scipy warns, the answer stands
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def paired_permutation(
    a: list[float], b: list[float], weights: list[float] | None = None, resamples: int = RESAMPLES, seed: int = 0
) -> float:
    """Two-sided p-value that two systems scored on the same items (a[i], b[i]) have the same
    (weighted) mean: the sign of each item's difference is flipped at random (exactly, over every
    pattern, when there are few items)."""
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=float)
    d = w * (np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    if not d.any():
        return 1.0
    mean = lambda x, axis: x.mean(axis=axis)  # noqa: E731
    rng = np.random.default_rng(seed)
    result = stats.permutation_test((d,), mean, permutation_type="samples", n_resamples=resamples, rng=rng)
    return float(min(1.0, result.pvalue))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given: the k-th smallest of m p-values is
    multiplied by m - k + 1, kept at least as large as the one before it, at most 1. NaN stays NaN
    and does not count."""
    p = np.asarray(pvalues, dtype=float)
    known = np.flatnonzero(~np.isnan(p))
    order = known[np.argsort(p[known], kind="stable")]
    adjusted = np.full(len(p), np.nan)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _bleu(ngrams: int):
    from sacrebleu.metrics import BLEU

    # the project's tokens, already split: no tokenizer of sacrebleu's, the task's n-gram order
    return BLEU(tokenize="none", max_ngram_order=ngrams, force=True)


def _reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, None where an item has fewer."""
    most = max(len(r) for r in references)
    return [[r[k] if k < len(r) else None for r in references] for k in range(most)]


def corpus_bleu(hypotheses: list[str], references: list[list[str]], ngrams: int = 4) -> float:
    """Corpus BLEU (0-1) of space-separated tokens, every reference of each item counted."""
    return _bleu(ngrams).corpus_score(hypotheses, _reference_streams(references)).score / 100


def bleu_interval(hypotheses: list[str], references: list[list[str]], ngrams: int = 4) -> Interval:
    """Corpus BLEU (0-1) of one run and sacrebleu's bootstrap interval (1000 resamples, its fixed seed)."""
    score = _bleu(ngrams).corpus_score(hypotheses, _reference_streams(references), n_bootstrap=1000)
    low, high = max(0.0, score._mean - score._ci), min(100.0, score._mean + score._ci)
    return Interval(score.score / 100, low / 100, high / 100)


def bleu_paired(a: list[str], b: list[str], references: list[list[str]], ngrams: int = 4) -> tuple[float, float, float]:
    """Corpus BLEU (0-1) of two systems on the same items and sacrebleu's paired approximate
    randomisation p-value (10000 trials, its fixed seed)."""
    from sacrebleu.significance import PairedTest

    if a == b:
        bleu = corpus_bleu(a, references, ngrams)
        return bleu, bleu, 1.0
    test = PairedTest([("a", a), ("b", b)], {"BLEU": _bleu(ngrams)}, _reference_streams(references), "ar")
    _, scores = test()
    base, other = scores["BLEU"]
    return base.score / 100, other.score / 100, float(other.p_value)
