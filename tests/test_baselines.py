"""`python -m src.baseline task=T`: the baselines' arithmetic against hand computations, their splits
against the DataModules', their run folders against src.compare, and their bad input."""

import math

import numpy as np
import pytest
from torchmetrics.text import BLEUScore

from src.baselines import carry_free, ngram_classifier, retrieval
from src.baselines.kneser_ney import KneserNey
from src.data.dinos import SYMBOLS

# --- Kneser-Ney ---------------------------------------------------------------------------------


def test_kneser_ney_matches_a_hand_computation():
    # Words ab, ba, b; order 2, D = 0.5; "." is the boundary. Bigram events (history -> symbol):
    #   . -> a, a -> b, b -> .  |  . -> b, b -> a, a -> .  |  . -> b, b -> .
    # History "a": c(a b) = 1, c(a .) = 1, c(a) = 2, N(a) = 2 symbols seen after it.
    # Unigram continuation counts (distinct histories before a symbol): a 2 (., b), b 2 (., a), . 2 (a, b):
    #   total 6 over 3 symbols, so P1(b) = (2 - 0.5 + 0.5 * 3 * 1/27) / 6 = (1.5 + 1/18) / 6 = 7/27,
    #   and a symbol never seen, z: P1(z) = (0 + 1/18) / 6 = 1/108.
    # P(b | a) = (1 - 0.5 + 0.5 * 2 * P1(b)) / 2 = (1/2 + 7/27) / 2 = 41/108
    # P(z | a) = (0 + 0.5 * 2 * 1/108) / 2 = 1/216
    model = KneserNey(["ab", "ba", "b"], order=2, discount=0.5)
    assert model.prob("b", "a") == pytest.approx(41 / 108, abs=1e-15)
    assert model.prob("z", "a") == pytest.approx(1 / 216, abs=1e-15)
    # the word's start reads as the boundary:
    # P(b | .) = (c(. b) - D + D * N(.) * P1(b)) / c(.) = (2 - 0.5 + 0.5 * 2 * 7/27) / 3
    assert model.prob("b", "") == pytest.approx((1.5 + 7 / 27) / 3, abs=1e-15)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_next_symbol_probabilities_sum_to_one_over_the_27_symbols(order):
    model = KneserNey(["tyrannosaurus", "stegosaurus", "raptor", "ab", "abba"], order=order, discount=0.75)
    seen, unseen = ["", "t", "ty", "saur", "abb"], ["q", "qqq", "zx", "tyq", "xyzzy"]
    for history in seen + unseen:
        total = sum(model.prob(symbol, history) for symbol in SYMBOLS)
        assert len(SYMBOLS) == 27 and total == pytest.approx(1.0, abs=1e-12), history
        assert all(model.prob(symbol, history) > 0 for symbol in SYMBOLS)


def test_kneser_ney_nll_counts_one_end_symbol_per_word():
    model = KneserNey(["ab", "ba", "b"], order=2, discount=0.5)
    # "ab": P(a | .), P(b | a), P(. | b): three symbols for two letters
    # P(a | .) = (c(. a) - D + D * N(.) * P1(a)) / c(.) = (1 - 0.5 + 0.5 * 2 * 7/27) / 3
    # P(. | b) = (c(b .) - D + D * N(b) * P1(.)) / c(b) = (2 - 0.5 + 0.5 * 2 * 7/27) / 3
    p_a, p_b, p_end = (0.5 + 7 / 27) / 3, 41 / 108, (1.5 + 7 / 27) / 3
    assert model.nll(["ab"]) == pytest.approx(-(math.log(p_a) + math.log(p_b) + math.log(p_end)) / 3, abs=1e-12)


# --- the other baselines' scores ------------------------------------------------------------------


def test_names_scores_by_hand():
    # 4 names, 3 languages; guesses 0, 1, 1, 2 for truths 0, 1, 2, 2:
    # accuracy 3/4; recall 1, 1, 1/2 -> balanced 5/6; F1 per class 1, 2/3 (p 1/2, r 1), 2/3 (p 1, r 1/2) -> 7/9
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    got = ngram_classifier.scores(probs, np.array([0, 1, 2, 2]), "test", label_smoothing=0.0)
    assert got["test/acc"] == pytest.approx(3 / 4)
    assert got["test/bal_acc"] == pytest.approx(5 / 6)
    assert got["test/f1"] == pytest.approx(7 / 9, abs=1e-6)
    assert got["test/loss"] == pytest.approx(-(math.log(0.8) * 2 + math.log(0.3) + math.log(0.8)) / 4)


def test_xor_rule_by_hand():
    # 39 + 17 = 56: 39 ^ 17 = 54 = 00110110, 56 = 00111000 (MSB first): bits 0, 4, 5, 6, 7 agree -> 5/8.
    # 5 + 2 = 7 = 5 ^ 2: no carry, all 8 right. Together: 13/16 bits, 1/2 sums.
    got = carry_free.scores([39, 5], [17, 2], 8, "add", "test", "bit")
    assert got == {"test/bit_acc": 13 / 16, "test/seq_acc": 0.5}
    # 209 - 17 = 192; 209 ^ 17 = 192 too (17's bits are all in 209): no borrow, right
    assert carry_free.scores([209], [17], 8, "sub", "test", "bit") == {"test/bit_acc": 1.0, "test/seq_acc": 1.0}


def test_retrieval_answers_with_the_nearest_training_source_and_scores_as_seq2seq():
    train = [("i am cold .", "j ai froid ."), ("i am cold .", "j ai tres froid ."), ("he is tall .", "il est grand .")]
    model = retrieval.NearestSource(train, "word", ngram_max=1)
    assert model(["i am very cold .", "he is .", "xyz"]) == ["j ai froid .", "il est grand .", "j ai froid ."]
    items = [("i am cold .", ["j ai froid .", "j ai tres froid ."]), ("he is .", ["il est ."])]
    got = retrieval.scores(["j ai tres froid .", "il est grand ."], items, "test", 2, chars=False)
    # corpus BLEU-2 over both items with all their references, as Seq2Seq computes it
    bleu = BLEUScore(n_gram=2)
    bleu.update(["j ai tres froid .", "il est grand ."], [["j ai froid .", "j ai tres froid ."], ["il est ."]])
    assert got == {"test/bleu": pytest.approx(float(bleu.compute())), "test/exact": 0.5}
    # characters: tokens are letters, space-joined as Seq2Seq does for pairs
    assert retrieval.scores(["women"], [("man", ["women"])], "test", 2, chars=True)["test/bleu"] == 1.0
