"""Per-length results: buckets and the metric in each, against values worked out by hand."""

import pytest

from src.analysis.lengths import buckets, by_length


def test_few_lengths_are_their_own_buckets_many_are_cut_at_quintiles():
    assert buckets([8, 8, 16, 32, 128]) == [(8, 8), (16, 16), (32, 32), (128, 128)]
    # 1..10 twice: the lower 20/40/60/80% quantiles of 20 sorted values are the 4th, 8th, 12th, 16th
    # smallest (index 3, 7, 11, 15 of 1,1,2,2,...): 2, 4, 6, 8
    assert buckets(list(range(1, 11)) * 2) == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]


def test_metric_per_bucket_is_the_weighted_mean_of_its_items():
    rows = [
        {"length": 8, "nll": 2.0, "nll_weight": 1},
        {"length": 8, "nll": 1.0, "nll_weight": 3},
        {"length": 16, "nll": 4.0, "nll_weight": 2},
        {"length": 16},
    ]
    eight, sixteen = by_length(rows, "nll")
    assert eight == {"lengths": "8", "shortest": 8, "longest": 8, "items": 2, "nll": pytest.approx(1.25)}
    assert sixteen["nll"] == 4.0 and sixteen["items"] == 1  # the row without the metric is left out
    assert by_length(rows, "acc") == []


def test_bleu_per_bucket():
    rows = [
        {"length": 2, "prediction": "a b", "references": ["a b"]},
        {"length": 3, "prediction": "x y", "references": ["z w"]},
    ]
    short, long = by_length(rows, "bleu", ngrams=2)
    assert short["bleu"] == pytest.approx(1.0) and long["bleu"] == 0.0
