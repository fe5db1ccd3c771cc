"""The statistics of a comparison: confidence intervals, tests between groups of runs, equivalence,
the runs a comparison needs, Holm's correction.

The unit of replication is the training run (a seed, a fold): a metric is one number per run.
Between two groups of runs: Welch's t over runs (no equal variances assumed), the difference of
the means with its Welch interval, two one-sided tests (TOST) against an equivalence margin, and
the runs per group a planner says would settle an inconclusive pair at 80% power (noncentral t).
A group of runs against one fixed value (a deterministic baseline): the same over the group's runs
alone (one-sample t). Test items pooled over seeds are not independent evidence (Dror et al. 2018;
Bouthillier et al. 2021): the tests over items answer only "this trained model vs that one": a
bootstrap interval of one run's mean, a paired sign-flip permutation test of two runs. BLEU is not
a mean over items, so its interval and paired test (approximate randomisation) come from sacrebleu,
the one BLEU of the project. Random draws take a fixed seed: the same runs give the same p-values.
"""

import functools
import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats

LEVEL = 0.95
RESAMPLES = 9999
MOST_RUNS = 1000  # the planner's ceiling: a pair that needs more is called what it is


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
    counts = resample_counts(len(x), resamples, seed)  # (R, N)
    means = (counts @ (x * w)) / (counts @ w)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(weighted_mean(x, w), float(low), float(high))


@functools.lru_cache(maxsize=4)
def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of n items is drawn in each of `resamples` bootstrap resamples (drawn with
    replacement, a fixed seed): (R, N). A resample's (weighted) sum is then one product with it, and
    every interval of a comparison over the same n test items reuses the same draws (read-only)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    counts = np.zeros((resamples, n))
    np.add.at(counts, (np.arange(resamples)[:, None], idx), 1.0)
    counts.flags.writeable = False
    return counts


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


class Difference(NamedTuple):
    """The difference of two means (a - b), its interval, the test that it is 0 and the one that it is
    within +-margin (TOST), the standard error and degrees of freedom they used, and how."""

    diff: float
    low: float
    high: float
    p: float  # two-sided, H0: no difference
    p_equivalent: float  # TOST, H0: |difference| >= margin; NaN without a margin
    se: float
    df: float
    how: str


def tost(diff: float, se: float, df: float, margin: float | None) -> float:
    """Two one-sided t-tests of |diff| < margin: the larger of their p-values (Schuirmann 1987)."""
    if margin is None or not margin > 0 or se != se or df != df:
        return float("nan")
    if se == 0:
        return 0.0 if abs(diff) < margin else 1.0
    lower = stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    upper = stats.t.cdf((diff - margin) / se, df)  # H0: diff >= +margin
    return float(max(lower, upper))


def t_difference(diff: float, se: float, df: float, margin: float | None, how: str, level: float = LEVEL) -> Difference:
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return Difference(diff, diff, diff, p, tost(diff, se, df, margin), se, df, how)
    half = stats.t.ppf((1 + level) / 2, df) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Difference(diff, float(diff - half), float(diff + half), p, tost(diff, se, df, margin), se, df, how)


def welch_difference(a: list[float], b: list[float], margin: float | None = None, level: float = LEVEL) -> Difference:
    """mean(a) - mean(b) over runs (two or more each), Welch's interval and test, and TOST."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))) if se > 0 else len(a) + len(b) - 2.0
    how = f"Welch over runs ({len(a)} vs {len(b)})"
    return t_difference(float(a.mean() - b.mean()), se, df, margin, how, level)


def fixed_difference(a: list[float], fixed: float, margin: float | None = None, level: float = LEVEL) -> Difference:
    """mean(a) - fixed: a group of runs (two or more) against a value that does not vary with the seed
    (a deterministic baseline): the one-sample t over the group's runs, and TOST."""
    a = np.asarray(a, dtype=float)
    se = float(a.std(ddof=1) / np.sqrt(len(a)))
    how = f"one-sample t over {len(a)} runs vs a fixed value"
    return t_difference(float(a.mean() - fixed), se, len(a) - 1.0, margin, how, level)


def folds_difference(a: list[float], b: list[float], margin: float | None = None, level: float = LEVEL) -> Difference:
    """mean(a - b) over K cross-validation folds (a[k], b[k]: both scored on fold k's test set), with
    Nadeau and Bengio's (2003) corrected resampled t: variance (1/K + n_test/n_train) s^2 with K - 1
    degrees of freedom, n_test/n_train = 1/(K - 1) for k-fold (each training set is the other K - 1
    folds). A plain paired t (variance s^2/K) ignores that the training sets overlap and calls too
    many differences (Dietterich 1998; Bouckaert and Frank 2004)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    k = len(d)
    se = float(np.sqrt((1 / k + 1 / (k - 1)) * d.var(ddof=1)))
    how = f"paired over {k} folds (corrected resampled t)"
    return t_difference(float(d.mean()), se, k - 1.0, margin, how, level)


def power(n: int, effect: float, sd: float, margin: float | None, alpha: float, groups: int = 2) -> float:
    """The chance that n runs per group (groups=2: Welch's two groups of equal spread; groups=1: runs
    against a fixed value) settle a true difference `effect`: the t-test finds it, or, when it lies
    inside +-margin, TOST shows the equivalence; the larger of the two."""
    se = sd * np.sqrt(groups / n)
    df = groups * (n - 1)

    def above(
        x: float, nc: float
    ) -> float:  # P(T > x), T noncentral t; scipy's is NaN far out, the normal is exact there
        p = stats.nct.sf(x, df, nc)
        return float(p) if p == p else float(stats.norm.sf(x - nc))

    crit = stats.t.ppf(1 - alpha / 2, df)
    found = 0.0
    if effect != 0:
        nc = abs(effect) / se
        found = above(crit, nc) + 1 - above(-crit, nc)
    equivalent = 0.0
    if margin and abs(effect) < margin:
        one = stats.t.ppf(1 - alpha, df)
        equivalent = max(0.0, above(one, (effect + margin) / se) - above(-one, (effect - margin) / se))
    return float(max(found, equivalent))


def runs_needed(
    effect: float,
    sd: float,
    margin: float | None,
    alpha: float = 0.05,
    target: float = 0.8,
    groups: int = 2,
    most: int = MOST_RUNS,
) -> int | None:
    """The fewest runs per group whose power (see `power`) reaches `target` when the true difference
    is `effect` and the seed spread `sd` (both as observed); None when even `most` would not (the
    difference is 0 and no margin, or it sits on the margin)."""
    if sd != sd or sd <= 0:
        return None
    if power(most, effect, sd, margin, alpha, groups) < target:
        return None
    low, high = 2, most  # power grows with n: bisect for the first n that reaches the target
    while low < high:
        mid = (low + high) // 2
        if power(mid, effect, sd, margin, alpha, groups) >= target:
            high = mid
        else:
            low = mid + 1
    return low


def paired_difference(
    a: list[float],
    b: list[float],
    weights: list[float] | None = None,
    resamples: int = 2000,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """Two runs scored on the same items: the (weighted) mean of a - b and its paired percentile
    bootstrap interval (items drawn with replacement)."""
    diff, (low, high) = paired_differences(a, b, weights, (level,), resamples, seed)
    return diff, low, high


def paired_differences(
    a: list[float],
    b: list[float],
    weights: list[float] | None = None,
    levels: tuple[float, ...] = (LEVEL,),
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, list[float]]:
    """`paired_difference` at several levels from one set of resamples: the mean difference and, per
    level, its interval's low and high, in order (low, high, low, high, ...)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    counts = resample_counts(len(x), resamples, seed)
    diffs = (counts @ ((x - y) * w)) / (counts @ w)
    bounds = np.quantile(diffs, [q for level in levels for q in ((1 - level) / 2, (1 + level) / 2)])
    return weighted_mean(x - y, w), [float(v) for v in bounds]


def paired_permutation(
    a: list[float], b: list[float], weights: list[float] | None = None, resamples: int = RESAMPLES, seed: int = 0
) -> float:
    """Two-sided p-value that two systems scored on the same items (a[i], b[i]) have the same
    (weighted) mean: the sign of each item's difference is flipped at random (exactly, over every
    pattern, when there are few items)."""
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=float)
    d = w * (np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    if not d.any() or len(d) < 2:  # one item: its sign flipped gives the same |mean|, p = 1
        return 1.0
    # an item scored alike by both (d = 0) adds the same 0 under every sign: the test is over the others
    # (a pair of accuracies differs on a few items of many: as many times less work), the mean still over n
    n, d = len(d), d[d != 0]
    exact = 2 ** len(d) <= resamples
    if exact:  # every sign pattern once (the observed one among them)
        signs = 1.0 - 2.0 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        null = signs @ d / n
    else:  # random patterns, drawn in blocks: as scipy's permutation_test, vectorised, in a fraction of its time
        rng, null = np.random.default_rng(seed), []
        for start in range(0, resamples, 1000):  # a flipped item's sign: a random bit, eight from each byte
            size = (min(1000, resamples - start), -(-len(d) // 8))
            flipped = np.unpackbits(rng.integers(0, 256, size=size, dtype=np.uint8), axis=1, count=len(d))
            null.append((d.sum() - 2.0 * (flipped @ d)) / n)
        null = np.concatenate(null)
    observed = d.sum() / n
    # scipy's two-sided p-value: twice the smaller tail, ties within rounding counted, +1 for a drawn null
    gamma, adjustment = abs(100 * np.finfo(float).eps * observed), 0 if exact else 1
    less = ((null <= observed + gamma).sum() + adjustment) / (len(null) + adjustment)
    greater = ((null >= observed - gamma).sum() + adjustment) / (len(null) + adjustment)
    return float(min(1.0, 2 * min(less, greater)))


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
    """Corpus BLEU (0-1) of space-separated tokens, every reference of each item counted: the one BLEU
    of the project (test/bleu, val/bleu, the baselines, compare's intervals, tests and per-length results)."""
    if not hypotheses:
        return 0.0
    return bleu_of_statistics(bleu_statistics(hypotheses, references, ngrams).sum(0), ngrams)


def bleu_statistics(hypotheses: list[str], references: list[list[str]], ngrams: int = 4) -> np.ndarray:
    """sacrebleu's sufficient statistics per item, (N, 2 + 2 * ngrams): hypothesis length, the chosen
    reference length, matched and total n-grams of each order. Summed over items (and processes)
    they give the corpus BLEU exactly (`bleu_of_statistics`)."""
    rows = _bleu(ngrams)._extract_corpus_statistics(hypotheses, _reference_streams(references))
    return np.asarray(rows, dtype=np.int64).reshape(len(hypotheses), 2 + 2 * ngrams)


def bleu_of_statistics(totals, ngrams: int = 4) -> float:
    """Corpus BLEU (0-1) from summed `bleu_statistics`."""
    return min(1.0, _bleu(ngrams)._compute_score_from_stats([int(x) for x in totals]).score / 100)


def bleu_interval(hypotheses: list[str], references: list[list[str]], ngrams: int = 4) -> Interval:
    """Corpus BLEU (0-1) of one run and sacrebleu's bootstrap interval (1000 resamples, its fixed seed)."""
    score = _bleu(ngrams).corpus_score(hypotheses, _reference_streams(references), n_bootstrap=1000)
    low, high = max(0.0, score._mean - score._ci), min(100.0, score._mean + score._ci)
    return Interval(corpus_bleu(hypotheses, references, ngrams), low / 100, high / 100)


def bleu_paired(a: list[str], b: list[str], references: list[list[str]], ngrams: int = 4) -> tuple[float, float, float]:
    """Corpus BLEU (0-1) of two systems on the same items and sacrebleu's paired approximate
    randomisation p-value (10000 trials, its fixed seed)."""
    from sacrebleu.significance import PairedTest

    if a == b:
        bleu = corpus_bleu(a, references, ngrams)
        return bleu, bleu, 1.0
    test = PairedTest([("a", a), ("b", b)], {"BLEU": _bleu(ngrams)}, _reference_streams(references), "ar")
    _, scores = test()
    return corpus_bleu(a, references, ngrams), corpus_bleu(b, references, ngrams), float(scores["BLEU"][1].p_value)
