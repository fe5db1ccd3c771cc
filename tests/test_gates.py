"""The gates replayed from the fused weights (src/nn/gates.py): equal to the module, and the
gradient through time of a small-weight RNN vanishing where an orthogonal one keeps it."""

import pytest
import torch

from src.nn.gates import VALUES, gradient_flow, reading_order, replay
from src.nn.recurrent import RecurrentCore


def test_reading_order_reverses_each_sequence_within_its_length():
    order = reading_order(torch.tensor([3, 1, 4]), 4)
    assert order.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert order.gather(1, order).tolist() == [[0, 1, 2, 3]] * 3  # its own inverse


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_replay_equals_the_module_in_every_layer_and_direction(cell, layers, bidirectional):
    torch.manual_seed(0)
    core = RecurrentCore(
        cell, input_size=3, hidden_size=5, num_layers=layers, dropout=0.3, bidirectional=bidirectional
    ).eval()
    x = torch.randn(4, 7, 3)
    lengths = torch.tensor([7, 3, 5, 1])
    directions = 2 if bidirectional else 1
    h0 = torch.randn(layers * directions, 4, 5)
    state = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
    with torch.no_grad():
        expected, final = core(x, lengths, state)
        traces, outputs = replay(core, x, lengths, state)
    assert torch.allclose(outputs, expected, atol=1e-5)
    assert [(t.layer, t.direction) for t in traces] == [(k, d) for k in range(layers) for d in range(directions)]
    final_h, final_c = final if cell == "lstm" else (final, None)
    rows = torch.arange(4)
    for index, trace in enumerate(traces):
        assert set(trace.values) == set(VALUES[cell])
        # the state a direction ends in: the last real step left to right, the first right to left
        at = lengths - 1 if trace.direction == 0 else torch.zeros(4, dtype=torch.long)
        assert torch.allclose(trace.values["hidden"][rows, at], final_h[index], atol=1e-5)
        if cell == "lstm":
            assert torch.allclose(trace.values["cell_state"][rows, at], final_c[index], atol=1e-5)
        assert trace.values["hidden"][3, 1:].abs().max() == 0  # zero past the length (1)
    gates = [v for t in traces for k, v in t.values.items() if k in ("input", "forget", "output", "reset", "update")]
    assert all(g.min() >= 0 and g.max() <= 1 for g in gates)


def rnn_core(scale: float, orthogonal: bool) -> RecurrentCore:
    torch.manual_seed(1)
    core = RecurrentCore("rnn", input_size=2, hidden_size=16, num_layers=1, dropout=0.0, bidirectional=False)
    with torch.no_grad():
        for p in core.parameters():
            p.uniform_(-scale, scale)
        if orthogonal:
            torch.nn.init.orthogonal_(core.rnn.weight_hh_l0)
            core.rnn.bias_ih_l0.zero_()
            core.rnn.bias_hh_l0.zero_()
    return core


def test_gradient_vanishes_with_distance_for_small_weights():
    x = torch.randn(1, 20, 2, generator=torch.Generator().manual_seed(0))
    norms = gradient_flow(rnn_core(0.1, orthogonal=False), x, lambda last: last.sum())
    ratio = norms / norms[-1]
    assert norms[-1] == pytest.approx(4.0)  # d sum(h_T) / d h_T: ones over 16 units
    assert torch.all(ratio[:-1] < ratio[1:])  # farther back, smaller
    # a step multiplies by W_hh^T diag(tanh'): spectral norm ~ 0.1 * 2 * sqrt(16 / 3) ~ 0.46 at most
    assert ratio[-12] < 1e-3 < ratio[-2]
    # the same measure on weights that keep the gradient: tanh'(0) = 1 and an orthogonal W_hh keep its
    # norm at every step, so the decay above comes from the weights, not from the measure
    kept = gradient_flow(rnn_core(0.0, orthogonal=True), torch.zeros(1, 20, 2), lambda last: last.sum())
    assert torch.allclose(kept / kept[-1], torch.ones(20), atol=1e-5)
