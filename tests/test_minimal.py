"""minGRU and minLSTM (src/nn/minimal.py): the parallel scan is the recurrence, step by step, with
padding, in both directions and over layers; its gradients are the step loop's; the cells fit the
recurrent core's interface as torch's do."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.nn.minimal import MinimalRNN, g, log_g, parallel_scan, sequential_scan
from src.nn.recurrent import RecurrentCore

CELLS = ("mingru", "minlstm")


def reference(module: MinimalRNN, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None):
    """The recurrence written out per item, step by step, each sequence cut at its length: outputs
    (B, T, D*H) zero past each length, final states (L*D, B, H)."""
    batch, steps, _ = x.shape
    outputs, finals = torch.zeros(batch, steps, module.hidden_size * module.directions), []
    per_layer_input = [x[b, : lengths[b]] for b in range(batch)]
    for layer in range(module.num_layers):
        next_input = []
        for b in range(batch):
            seq, parts = per_layer_input[b], []
            for direction in range(module.directions):
                order = seq if direction == 0 else seq.flip(0)
                share = module.input_share(layer, direction, order.unsqueeze(0))[0]  # (t, G*H)
                index = layer * module.directions + direction
                h = torch.zeros(module.hidden_size) if h0 is None else h0[index, b]
                states = []
                for t in range(len(order)):
                    if module.cell == "mingru":
                        k, v = share[t].chunk(2)
                        z = torch.sigmoid(k)
                        h = (1 - z) * h + z * g(v)
                    else:
                        kf, ki, v = share[t].chunk(3)
                        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
                        h = f / (f + i) * h + i / (f + i) * g(v)
                    states.append(h)
                stacked = torch.stack(states)
                parts.append(stacked if direction == 0 else stacked.flip(0))
                finals.append((index, b, h))
            next_input.append(torch.cat(parts, dim=-1))
        per_layer_input = next_input
    for b in range(batch):
        outputs[b, : lengths[b]] = per_layer_input[b]
    h_n = torch.zeros(module.num_layers * module.directions, batch, module.hidden_size)
    for index, b, h in finals:
        h_n[index, b] = h
    return outputs, h_n


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
@pytest.mark.parametrize("with_state", [False, True])
def test_the_parallel_scan_is_the_recurrence_with_padding(cell, layers, bidirectional, with_state):
    torch.manual_seed(0)
    module = MinimalRNN(cell, 5, 7, layers, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(4, 23, 5) * 2, torch.tensor([23, 1, 17, 9])
    h0 = torch.randn(layers * module.directions, 4, 7) if with_state else None  # any sign
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = module(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=23)
    want_out, want_h = reference(module, x, lengths, h0)
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_n, want_h, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_parallel_and_sequential_scans_agree_in_values_and_gradients(cell, dtype, tolerance):
    """The same gradients to 1e-9 in float64 (the scan is exact); in float32 the log-space sums round
    differently from the step loop's products, by up to about 1e-4 of a gradient over 40 steps."""
    torch.manual_seed(1)
    parallel = MinimalRNN(cell, 3, 6, 2, bidirectional=True).to(dtype)
    sequential = MinimalRNN(cell, 3, 6, 2, bidirectional=True, scan="sequential").to(dtype)
    sequential.load_state_dict(parallel.state_dict())
    x = torch.randn(3, 40, 3, dtype=dtype)
    grads = []
    for module in (parallel, sequential):
        out, h_n = module(x)
        (out.square().mean() + h_n.sum()).backward()
        grads.append({n: p.grad.clone() for n, p in module.named_parameters()})
    torch.testing.assert_close(parallel(x)[0], sequential(x)[0], atol=tolerance, rtol=tolerance)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=tolerance, rtol=tolerance)


def test_the_log_space_pieces_hold_for_extreme_inputs():
    v = torch.tensor([-80.0, -5.0, 0.0, 3.0, 1e4])
    torch.testing.assert_close(log_g(v).exp(), g(v))
    log_a, log_b = torch.full((1, 2000, 1), -1e-3), torch.full((1, 2000, 1), -7.0)
    h = parallel_scan(log_a, log_b, None)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, sequential_scan(log_a, log_b, None), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_the_core_runs_a_minimal_cell_as_it_runs_torchs(cell):
    core = RecurrentCore(cell, 4, 8, num_layers=2, dropout=0.1, bidirectional=True)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    out, state = core(x, lengths)
    assert out.shape == (3, 6, 16) and state.shape == (4, 3, 8)
    assert (out[1, 2:] == 0).all()  # zero past each length, as the core promises
    assert core.last_layer_state(state).shape == (3, 16) and core.bridge(state).shape == (2, 3, 16)
    one_step, _ = core(x[:, :1], None, core.bridge(state)[:, :, :8].repeat(2, 1, 1))  # a step from a state
    assert one_step.shape == (3, 1, 16)
    with pytest.raises(ValueError, match="weight_drop"):
        RecurrentCore(cell, 4, 8, 1, 0.0, False, weight_drop=0.5)


@pytest.mark.parametrize("cell", CELLS)
def test_replay_reads_the_gates_of_a_minimal_cell_and_gives_the_cores_outputs(cell):
    """src.inspect and the TensorBoard pictures read the gates by replaying the core step by step."""
    from src.nn.gates import GATES, replay

    torch.manual_seed(2)
    core = RecurrentCore(cell, 4, 5, num_layers=2, dropout=0.0, bidirectional=True).eval()
    x, lengths = torch.randn(3, 9, 4), torch.tensor([9, 3, 6])
    traces, outputs = replay(core, x, lengths)
    torch.testing.assert_close(outputs, core(x, lengths)[0], atol=1e-5, rtol=1e-5)
    assert len(traces) == 4 and set(GATES[cell]) <= set(traces[0].values)
    for trace in traces:
        for gate in GATES[cell]:
            if gate != "candidate":
                assert ((trace.values[gate] >= 0) & (trace.values[gate] <= 1)).all()
    if cell == "minlstm":  # normalised: forget + input = 1 at every real step
        real = (torch.arange(9) < lengths.unsqueeze(1)).unsqueeze(-1)
        total = traces[0].values["forget"] + traces[0].values["input"]
        torch.testing.assert_close(total[real.expand_as(total)], torch.ones(int(real.sum()) * 5))
