"""src.analysis.stats against values worked out by hand (the arithmetic is in the comments)."""

import math

import pytest

from src.analysis.stats import (
    bleu_interval,
    bleu_paired,
    bootstrap_interval,
    corpus_bleu,
    fixed_difference,
    folds_difference,
    holm,
    paired_difference,
    paired_permutation,
    runs_needed,
    t_interval,
    tost,
    welch,
    welch_difference,
)


def test_t_interval_of_three_seeds():
    # mean 2, sd 1, se 1/sqrt(3) = 0.57735; t(0.975, 2 df) = 4.3027 (table): half-width 2.4841
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2 - 2.4841, abs=1e-4) and high == pytest.approx(2 + 2.4841, abs=1e-4)
    assert t_interval([0.7]) == (0.7, 0.7, 0.7)  # one seed: no spread to speak of


def test_welch_against_a_hand_computed_t_test():
    # a = 1, 2, 3: mean 2, var 1; b = 4, 5, 6, 7: mean 5.5, var 5/3
    # se^2 = 1/3 + (5/3)/4 = 0.75, t = (2 - 5.5) / sqrt(0.75) = -4.0415
    # df = 0.75^2 / ((1/3)^2 / 2 + (5/12)^2 / 3) = 0.5625 / 0.113426 = 4.959
    # the table's t(0.995, 5 df) = 4.032, so the two-sided p is just above 0.01 (df a little under 5)
    t, p = welch([1, 2, 3], [4, 5, 6, 7])
    assert t == pytest.approx(-4.0415, abs=1e-4)
    assert 0.0099 < p < 0.0102
    assert welch([0.5, 0.5], [0.5, 0.5]) == (0.0, 1.0)  # identical, spread-less seeds: no difference
    assert all(math.isnan(v) for v in welch([1.0], [2.0, 3.0]))  # one seed: no t-test


def test_holm_on_a_hand_example():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # two known p-values: 0.01 * 2 = 0.02, then max(0.02, 0.02 * 1) = 0.02; NaN does not count
    adjusted = holm([0.01, float("nan"), 0.02])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_paired_permutation_exact_and_identical():
    # three items, b better on each by 1: of the 2^3 sign patterns only all-plus and all-minus reach
    # |mean| = 1, so p = 2/8
    assert paired_permutation([1, 1, 1], [0, 0, 0]) == pytest.approx(0.25)
    assert paired_permutation([1, 0, 1, 1], [1, 0, 1, 1]) == 1.0  # the same predictions: no difference
    # 60 items right against 40 of the same 100 (b right only where a is): a real difference
    a, b = [1] * 60 + [0] * 40, [1] * 40 + [0] * 60
    assert paired_permutation(a, b) < 1e-3
    assert paired_permutation(a, b, seed=0) == paired_permutation(a, b, seed=0)  # a fixed seed


def test_bootstrap_interval_with_a_fixed_seed():
    # 200 right of 400: mean 0.5, binomial se sqrt(0.25 / 400) = 0.025, so +-1.96 se = [0.451, 0.549]
    values = [1.0] * 200 + [0.0] * 200
    mean, low, high = bootstrap_interval(values, seed=0)
    assert mean == 0.5
    assert low == pytest.approx(0.451, abs=0.006) and high == pytest.approx(0.549, abs=0.006)
    assert bootstrap_interval(values, seed=0) == bootstrap_interval(values, seed=0)
    # weights: a ratio of sums, as NLL per symbol is (2 * 1 + 1 * 3) / (1 + 3) = 1.25
    assert bootstrap_interval([2.0, 1.0], weights=[1, 3]).mean == pytest.approx(1.25)


def test_bleu_through_sacrebleu():
    refs = [["a b c d", "a b c e"], ["e f g h j"], ["x y w"]]  # a varying number of references
    same = ["a b c d", "e f g h i", "x y z"]
    bleu_a, bleu_b, p = bleu_paired(same, list(same), refs, ngrams=2)
    assert bleu_a == bleu_b and p == 1.0
    # unigrams matched 4 + 4 + 2 of 4 + 5 + 3 = 10/12; bigrams 3 + 3 + 1 of 3 + 4 + 2 = 7/9
    # BLEU-2 = sqrt(10/12 * 7/9) = 0.8051, no brevity penalty (12 words, the closest references 12)
    interval = bleu_interval(same, refs, ngrams=2)
    assert interval.mean == pytest.approx(0.8051, abs=1e-4)
    assert interval.low <= interval.mean <= interval.high <= 1.0


def test_welch_difference_interval_against_hand_arithmetic():
    # the samples above: difference -3.5, se 0.8660, df 4.959; t(0.975, 5 df) = 2.5706 (table), a
    # hair more at 4.959 df: half-width about 2.5706 * 0.8660 = 2.226
    d = welch_difference([1, 2, 3], [4, 5, 6, 7])
    assert d.diff == -3.5 and d.se == pytest.approx(0.8660, abs=1e-4) and d.df == pytest.approx(4.959, abs=1e-3)
    assert d.low == pytest.approx(-3.5 - 2.226, abs=0.01) and d.high == pytest.approx(-3.5 + 2.226, abs=0.01)
    assert 0.0099 < d.p < 0.0102  # the p of welch() above
    assert math.isnan(d.p_equivalent)  # no margin, no equivalence test


def test_tost_against_the_t_table():
    # difference 0, se 1, 10 df, margin 2: both one-sided tests have t = 2, P(T10 > 2) = 0.0367 (table)
    assert tost(0.0, 1.0, 10, 2.0) == pytest.approx(0.0367, abs=1e-4)
    # difference 1: t = 3 and t = -1; the larger p is P(T10 > 1) = 0.1704
    assert tost(1.0, 1.0, 10, 2.0) == pytest.approx(0.1704, abs=1e-4)
    assert tost(0.0, 0.0, 10, 2.0) == 0.0 and tost(3.0, 0.0, 10, 2.0) == 1.0  # no spread: where the value is
    # a group against a fixed value: runs 1, 2, 3 (mean 2, se 0.5774, 2 df) against 1
    d = fixed_difference([1, 2, 3], 1.0, margin=0.5)
    assert d.diff == 1.0 and d.df == 2 and d.se == pytest.approx(0.5774, abs=1e-4)
    # two-sided P(|T2| > 1.732) = 0.2254 (t = 1 / 0.5774)
    assert d.p == pytest.approx(0.2254, abs=1e-4)


def test_runs_needed_against_textbook_sample_sizes():
    # Cohen's tables (and G*Power): effect size d = 1 at alpha 0.05 two-sided, power 0.8: 17 runs per
    # group for two groups, 10 for one group against a fixed value; d = 0.5: 64 per group
    assert runs_needed(1.0, 1.0, None) == 17
    assert runs_needed(1.0, 1.0, None, groups=1) == 10
    assert runs_needed(0.5, 1.0, None) == 64
    # equivalence with a true difference 0, margin 0.5 sd: n = 2 (z.95 + z.90)^2 / 0.5^2 = 68.5 by the
    # normal approximation; the t distribution asks a little more
    assert 68 <= runs_needed(0.0, 1.0, 0.5) <= 72
    assert runs_needed(0.0, 1.0, None) is None  # nothing to find and no margin: never settled
    assert runs_needed(0.1, 0.0, None) is None  # no spread seen: nothing to plan from


def test_paired_difference_of_two_runs_on_the_same_items():
    # 60 of 100 right against 40, a right wherever b is: difference 0.2, se sqrt(0.2 * 0.8 / 100) = 0.04
    a, b = [1] * 60 + [0] * 40, [1] * 40 + [0] * 60
    diff, low, high = paired_difference(a, b)
    assert diff == pytest.approx(0.2)
    assert low == pytest.approx(0.2 - 1.96 * 0.04, abs=0.015) and high == pytest.approx(0.2 + 1.96 * 0.04, abs=0.015)


def test_one_bleu_with_several_references():
    """The task's BLEU metric is compare's: with several references per item, torchmetrics' BLEUScore
    (the metric before) took another reference length for the brevity penalty and said 0.6514 here."""
    from src.tasks.metrics import CorpusBLEU

    hyps = ["a b c d e", "x y"]
    refs = [["a b c d e f g", "a b c"], ["x y z"]]
    # every n-gram of both outputs is in a reference: precisions 7/7, 5/5, 3/3, 2/2; outputs 7 tokens
    # against the closest references, 3 + 3 = 6 (the 5-token output is as close to 3 as to 7: the
    # shorter is taken): no brevity penalty, BLEU 1
    metric = CorpusBLEU(4)
    metric.update(hyps[:1], refs[:1])  # two batches: the statistics add up
    metric.update(hyps[1:], refs[1:])
    assert float(metric.compute()) == corpus_bleu(hyps, refs) == pytest.approx(1.0)
    with pytest.warns(UserWarning, match="called before the ``update``"):  # torchmetrics' own warning
        assert float(CorpusBLEU(4).compute()) == 0.0  # nothing seen


def test_folds_difference_uses_the_corrected_resampled_variance():
    # differences 0.5, 1.0, 0.5 over 3 folds: mean 2/3, variance 1/12; Nadeau and Bengio's factor
    # 1/3 + 1/2 = 5/6 (a plain paired t would take 1/3): se^2 = 5/72, se = 0.26352, t = 2.5298 with
    # 2 df; for 2 df the two-sided p is 1 - t / sqrt(t^2 + 2) = 0.1271
    d = folds_difference([1.0, 2.0, 3.0], [0.5, 1.0, 2.5])
    assert d.diff == pytest.approx(2 / 3) and d.se == pytest.approx(0.26352, abs=1e-5) and d.df == 2
    assert d.p == pytest.approx(0.1271, abs=1e-4)


def test_paired_permutation_of_one_item_is_one():
    """One item: flipping its difference's sign gives the same |mean| (2 patterns, both as extreme): p = 1."""
    assert paired_permutation([0.3], [0.1]) == 1.0


def test_paired_permutation_is_over_the_items_scored_differently():
    """Items both runs score alike add 0 under any sign: 3 items apart among 200 are the exact 2/8 of
    three items, as the vectorised test draws signs for those alone (scipy's took 1 s for 1,814 items)."""
    assert paired_permutation([1, 1, 1] + [1, 0] * 100, [0, 0, 0] + [1, 0] * 100) == pytest.approx(0.25)
    a, b = [1] * 600 + [0] * 400, [1] * 500 + [0] * 500
    # 100 items apart, all one way: no drawn pattern as far, so the smallest two-sided p of 9,999: 2 x 1/10,000
    assert paired_permutation(a, b) == pytest.approx(2 / 10000)
