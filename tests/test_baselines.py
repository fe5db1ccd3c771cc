"""`python -m src.baseline task=T`: the baselines' arithmetic against hand computations, their splits
against the DataModules', their run folders against src.compare, and their bad input."""

import math

import pytest

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
