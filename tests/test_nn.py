"""Unit tier: the recurrent core and the classifier network, at tiny sizes."""

import pytest
import torch
from torch import nn

from src.nn.classifier import SequenceClassifierNet
from src.nn.recurrent import RecurrentCore


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_core_shapes_and_padding(cell: str, bidirectional: bool):
    torch.manual_seed(0)
    core = RecurrentCore(cell, input_size=3, hidden_size=5, num_layers=2, dropout=0.0, bidirectional=bidirectional)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 4, 1])
    outputs, state = core(x, lengths)
    d = 2 if bidirectional else 1
    assert outputs.shape == (4, 6, 5 * d)
    assert torch.all(outputs[1, 2:] == 0) and torch.all(outputs[3, 1:] == 0)  # nothing past a length
    summary = core.last_layer_state(state)
    assert summary.shape == (4, 5 * d)
    for i, n in enumerate(lengths.tolist()):  # forward direction: its final state is its output at the last real step
        assert torch.allclose(summary[i, :5], outputs[i, n - 1, :5], atol=1e-6)
        if bidirectional:  # backward direction ends at step 0
            assert torch.allclose(summary[i, 5:], outputs[i, 0, 5:], atol=1e-6)


def test_padding_does_not_change_a_sequences_result():
    torch.manual_seed(0)
    core = RecurrentCore("lstm", 3, 4, 1, 0.0, bidirectional=True)
    x = torch.randn(1, 3, 3)
    alone = core.last_layer_state(core(x, torch.tensor([3]))[1])
    padded = torch.cat([x, torch.randn(1, 5, 3)], dim=1)  # garbage after the end
    assert torch.allclose(alone, core.last_layer_state(core(padded, torch.tensor([3]))[1]), atol=1e-6)


def test_cells_map_to_torch_modules_and_unknown_is_a_clear_error():
    assert isinstance(RecurrentCore("gru", 2, 2, 1, 0.0, False).rnn, nn.GRU)
    assert isinstance(RecurrentCore("lstm", 2, 2, 1, 0.0, False).rnn, nn.LSTM)
    with pytest.raises(ValueError, match="cell=transformer is unknown; use one of rnn, lstm, gru, mingru, minlstm"):
        RecurrentCore("transformer", 2, 2, 1, 0.0, False)
    for bad in ({"hidden_size": 0}, {"num_layers": 0}, {"dropout": 2.0}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))}="):
            RecurrentCore(
                **{
                    "cell": "gru",
                    "input_size": 2,
                    "hidden_size": 2,
                    "num_layers": 1,
                    "dropout": 0.0,
                    "bidirectional": False,
                    **bad,
                }
            )


@pytest.mark.parametrize("pooling", ["last", "last_max"])
def test_classifier_logits_ignore_padding(pooling: str):
    torch.manual_seed(0)
    core = {"cell": "gru", "hidden_size": 6, "num_layers": 1, "dropout": 0.0, "bidirectional": True}
    net = SequenceClassifierNet(10, 3, 4, 0.0, core=core, pooling=pooling, symbol_dropout=0.0, pad_id=0)
    tokens = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    logits = net(tokens, torch.tensor([3, 5]))
    assert logits.shape == (2, 3)
    alone = net(tokens[:1, :3], torch.tensor([3]))
    assert torch.allclose(logits[:1], alone, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_weight_drop_masks_the_recurrent_weights_once_per_batch(cell: str):
    core = RecurrentCore(
        cell, input_size=3, hidden_size=6, num_layers=2, dropout=0.0, bidirectional=False, weight_drop=0.5
    )
    x, lengths = torch.randn(4, 7, 3), torch.tensor([7, 5, 2, 1])
    torch.manual_seed(0)
    out, _ = core(x, lengths)
    # by hand: the same masks (drawn in parameter order, hidden-to-hidden weights only) put into a plain module
    plain = RecurrentCore(cell, input_size=3, hidden_size=6, num_layers=2, dropout=0.0, bidirectional=False)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, w in core.rnn.named_parameters():
            kept = torch.nn.functional.dropout(w, 0.5) if name.startswith("weight_hh") else w
            getattr(plain.rnn, name).copy_(kept)
    expected, _ = plain(x, lengths)
    torch.testing.assert_close(out, expected)
    assert (plain.rnn.weight_hh_l0 == 0).float().mean() > 0.3  # the mask did zero some weights
    out.sum().backward()
    assert core.rnn.weight_hh_l1.grad.abs().sum() > 0  # the raw weights learn through the mask
    core.eval()  # evaluation: the whole weights, the same result every call
    plain.load_state_dict(core.state_dict())
    torch.testing.assert_close(core(x, lengths)[0], plain(x, lengths)[0])
    with pytest.raises(ValueError, match="weight_drop=1"):
        RecurrentCore(cell, input_size=3, hidden_size=6, num_layers=1, dropout=0.0, bidirectional=False, weight_drop=1)
