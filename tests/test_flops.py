"""The operation count of the speed benchmark's roofline (benchmarks/flops.py), against hand counts."""

import torch

from benchmarks.flops import forward_flops, training_flops
from src.data.batching import IGNORE, Batch, PairBatch
from src.nn.classifier import SequenceClassifierNet
from src.nn.language_model import CharLanguageModelNet
from src.nn.seq2seq import Seq2SeqNet


def core(cell: str, hidden: int, bidirectional: bool = False, layers: int = 1) -> dict:
    return {"cell": cell, "hidden_size": hidden, "num_layers": layers, "dropout": 0.0, "bidirectional": bidirectional}


def test_classifier_count_by_hand():
    # GRU, embedding 4, hidden 3, 2 classes; two names of 2 and 3 letters (5 real steps, padded to 6).
    net = SequenceClassifierNet(5, 2, 4, 0.0, core("gru", 3), "last", 0.0, pad_id=0)
    batch = Batch(torch.tensor([[1, 2, 0], [1, 2, 3]]), torch.tensor([2, 3]), torch.tensor([0, 1]))
    gru = 3 * 3 * (4 + 3) * 2 * 5  # 3 gates x 3 units x (input 4 + state 3) x 2 per multiply-add x 5 steps = 630
    head = 3 * 2 * 2 * 2  # hidden 3 -> 2 classes, x 2, once per name (2 names) = 24
    assert forward_flops(net, batch) == gru + head == 654
    assert training_flops(net, [batch, batch]) == 3 * 2 * 654  # forward + backward, two batches


def test_two_layer_lstm_language_model_by_hand():
    # LSTM, 2 layers of 2 units; embedding 3 tied to the 6-symbol output through a projection; one word of 4 steps.
    net = CharLanguageModelNet(6, 3, 0.0, core("lstm", 2, layers=2), tie_weights=True)
    batch = Batch(torch.tensor([[1, 2, 3, 4]]), torch.tensor([4]), torch.tensor([[2, 3, 4, 0]]))
    layer1 = 4 * 2 * (3 + 2) * 2 * 4  # 4 gates x 2 units x (embedding 3 + state 2) x 2 x 4 steps = 320
    layer2 = 4 * 2 * (2 + 2) * 2 * 4  # input: layer 1's 2 outputs = 256
    proj = 2 * 3 * 2 * 4  # tied weights: state 2 -> embedding 3 at each step = 48
    head = 3 * 6 * 2 * 4  # embedding 3 -> 6 symbols at each step = 144
    assert forward_flops(net, batch) == layer1 + layer2 + proj + head == 768


def test_seq2seq_with_additive_attention_by_hand():
    # Source: embedding 4, GRU 3 each way (keys of 6); decoder GRU 6; attention 6; 7 target words.
    net = Seq2SeqNet(5, 7, 4, 0.0, core("gru", 3, bidirectional=True), "additive", pad_id=0)
    src = torch.tensor([[1, 2, 3, 0]])  # 3 real source steps of 4
    tgt_out = torch.tensor([[4, 5, IGNORE]])  # 2 real target steps of 3
    batch = PairBatch(src, torch.tensor([3]), torch.tensor([[1, 4, 0]]), tgt_out, torch.tensor([0]))
    encoder = 2 * 3 * 3 * (4 + 3) * 2 * 3  # 2 directions x 3 gates x 3 units x (4 + 3) x 2 x 3 steps = 756
    decoder = 3 * 6 * (4 + 6) * 2 * 2  # 3 gates x 6 units x (embedding 4 + state 6) x 2 x 2 steps = 720
    keys = 6 * 6 * 2 * 3  # W_key on the 3 source steps = 216
    query = 6 * 6 * 2 * 2  # W_query on the 2 target steps = 144
    scores = 6 * 1 * 2 * (2 * 3)  # v on each of the 2 x 3 (target, source) pairs = 72
    context = 6 * 2 * (2 * 3)  # weighted sum of keys of 6: one multiply-add per pair and key unit = 72
    combine = 12 * 4 * 2 * 2  # [state; context] 12 -> embedding 4 at each target step = 192
    out = 4 * 7 * 2 * 2  # embedding 4 -> 7 words at each target step = 112
    expected = encoder + decoder + keys + query + scores + context + combine + out
    assert forward_flops(net, batch) == expected == 2284
