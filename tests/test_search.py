"""Unit tier: greedy and beam decoding of a Seq2SeqNet (issue 4)."""

import itertools
import math

import pytest
import torch

from src.nn.search import Symbols, beam_search, greedy
from src.nn.seq2seq import Seq2SeqNet

START, END = 1, 2  # the target ids of these tests: 0 padding, 1 start, 2 end, 3.. words
SYMBOLS = Symbols(START, END, (0, START))
SOURCES, LENGTHS = torch.tensor([[4, 5, 6, 2], [6, 2, 0, 0], [3, 4, 2, 0]]), torch.tensor([4, 2, 3])


def tiny_net(cell: str = "gru", attention: str = "general", vocab: int = 5) -> Seq2SeqNet:
    torch.manual_seed(3)
    core = {"cell": cell, "hidden_size": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": cell != "rnn"}
    return Seq2SeqNet(8, vocab, 6, 0.0, core, attention, pad_id=0).eval()


def sequence_log_prob(net: Seq2SeqNet, row: int, ids: list[int]) -> float:
    """log P(ids) for source `row`, padding and start excluded as the search excludes them."""
    memory, state = net.encode(SOURCES[row : row + 1], LENGTHS[row : row + 1])
    logits, _, _ = net.decode(torch.tensor([[START, *ids[:-1]]]), state, memory)
    logits[..., [0, START]] = float("-inf")
    return float(logits.detach().log_softmax(-1)[0, torch.arange(len(ids)), ids].sum())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_beam_of_one_is_greedy_and_greedy_takes_the_argmax(cell: str):
    net = tiny_net(cell, vocab=9)
    found = greedy(net, SOURCES, LENGTHS, 6, SYMBOLS)
    assert [h.ids for h in beam_search(net, SOURCES, LENGTHS, 6, SYMBOLS, beam_size=1)] == [h.ids for h in found]
    for row, hyp in enumerate(found):
        assert all(i > END for i in hyp.ids) and len(hyp.ids) <= 6
        full = hyp.ids + [END] if len(hyp.ids) < 6 else hyp.ids
        assert math.isclose(hyp.score, sequence_log_prob(net, row, full), rel_tol=1e-4)
        assert hyp.weights.shape == (min(len(hyp.ids) + 1, 6), int(LENGTHS[row]))
        assert torch.allclose(hyp.weights.sum(-1), torch.ones(hyp.weights.shape[0]))


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_beam_wide_enough_finds_the_best_sequence_by_brute_force(cell: str, length_penalty: float):
    net, max_length = tiny_net(cell, vocab=5), 3  # outputs: a, b (ids 3, 4) or the end
    found = beam_search(net, SOURCES, LENGTHS, max_length, SYMBOLS, beam_size=9, length_penalty=length_penalty)
    for row, hyp in enumerate(found):
        candidates = [[END]] + [[*p, END] for n in (1, 2) for p in itertools.product([3, 4], repeat=n)]
        candidates += [list(p) for p in itertools.product([3, 4], repeat=max_length)]  # cut at max_length
        scored = [(sequence_log_prob(net, row, c) / len(c) ** length_penalty, c) for c in candidates]
        best_score, best = max(scored)
        assert hyp.ids == [i for i in best if i != END]
        assert math.isclose(hyp.score, best_score, rel_tol=1e-4)


def test_beam_search_keeps_the_attention_of_the_hypothesis_it_returns():
    net = tiny_net("gru", vocab=9)
    for row, hyp in enumerate(beam_search(net, SOURCES, LENGTHS, 6, SYMBOLS, beam_size=3)):
        memory, state = net.encode(SOURCES[row : row + 1], LENGTHS[row : row + 1])
        steps = [START, *hyp.ids, END][: hyp.weights.shape[0]]
        _, _, weights = net.decode(torch.tensor([steps]), state, memory)
        assert torch.allclose(hyp.weights, weights[0, :, : int(LENGTHS[row])], atol=1e-5)


def test_without_attention_there_are_no_weights():
    net = tiny_net("gru", attention="none", vocab=9)
    assert all(h.weights is None for h in beam_search(net, SOURCES, LENGTHS, 5, SYMBOLS, beam_size=2))
    assert all(h.weights is None for h in greedy(net, SOURCES, LENGTHS, 5, SYMBOLS))
