"""Floating-point operations of a training step, counted from the network's shapes: every matrix
product (recurrent gates, input projections, attention, output layers) on the real, unpadded
positions of a batch, at 2 operations per multiply-add. Element-wise work (activations, softmax,
loss, embedding look-ups, biases) is left out. Backward costs twice the forward (a product's
gradient needs two products of the same size), so a training step is 3 x forward.

The speed benchmark divides an epoch's count by its time for `fraction_of_peak` (see speed.py).
"""

from torch import nn

from src.data.batching import IGNORE, Batch, PairBatch
from src.nn.classifier import SequenceClassifierNet
from src.nn.labeller import StepLabellerNet
from src.nn.language_model import CharLanguageModelNet
from src.nn.recurrent import RecurrentCore
from src.nn.seq2seq import Seq2SeqNet

# weight blocks per cell: tanh; reset, update, new; input, forget, cell, output; update, candidate; forget, input,
# candidate (the minimal cells' blocks read the input only: no hidden-to-hidden product)
GATES = {"rnn": 1, "gru": 3, "lstm": 4, "mingru": 2, "minlstm": 3}
TRAIN_PER_FORWARD = 3  # forward + backward (gradients of the inputs and of the weights)


def product(inputs: int, outputs: int, rows: int) -> int:
    """(rows, inputs) @ (inputs, outputs)."""
    return 2 * inputs * outputs * rows


def linear(layer: nn.Module, rows: int) -> int:
    return product(layer.in_features, layer.out_features, rows) if isinstance(layer, nn.Linear) else 0


def recurrent(core: RecurrentCore, steps: int) -> int:
    """`steps` real steps (summed over the batch) through every layer and direction: each step maps
    [input; state] to GATES x hidden_size pre-activations."""
    total = 0
    for layer in range(core.num_layers):
        inputs = core.rnn.input_size if layer == 0 else core.output_size
        reads = inputs if core.cell.startswith("min") else inputs + core.hidden_size  # [input; state] or input
        total += core.directions * product(reads, GATES[core.cell] * core.hidden_size, steps)
    return total


def classifier(net: SequenceClassifierNet, batch: Batch) -> int:
    return recurrent(net.core, int(batch.lengths.sum())) + linear(net.head, len(batch.lengths))


def language_model(net: CharLanguageModelNet, batch: Batch) -> int:
    steps = int(batch.lengths.sum())
    return recurrent(net.core, steps) + linear(net.proj, steps) + linear(net.head, steps)


def labeller(net: StepLabellerNet, batch: Batch) -> int:
    steps = int(batch.lengths.sum())  # one-hot inputs are multiplied as they are: core.rnn.input_size is the vocabulary
    return recurrent(net.core, steps) + linear(net.head, steps)


def seq2seq(net: Seq2SeqNet, batch: PairBatch) -> int:
    """Encoder over the source steps; decoder, attention, combine and output layer over the target
    steps; attention scores and context over every (target step, source step) pair of an item."""
    src, tgt = batch.src_lengths, (batch.tgt_out != IGNORE).sum(1)
    sources, targets, pairs = int(src.sum()), int(tgt.sum()), int((src * tgt).sum())
    total = recurrent(net.encoder, sources) + recurrent(net.decoder, targets)
    total += linear(net.combine, targets) + linear(net.out, targets)
    attention = net.attention
    if attention is not None:
        keys = net.encoder.output_size
        total += product(keys, 1, pairs)  # context: the weighted sum of the keys
        if attention.rule == "additive":
            total += linear(attention.W_key, sources) + linear(attention.W_query, targets) + linear(attention.v, pairs)
        else:  # dot, general: a dot product of the query with each (projected) key
            total += product(net.decoder.output_size, 1, pairs)
            total += linear(attention.W, sources) if attention.rule == "general" else 0
    return total


COUNTERS = {
    SequenceClassifierNet: classifier,
    CharLanguageModelNet: language_model,
    StepLabellerNet: labeller,
    Seq2SeqNet: seq2seq,
}


def forward_flops(net: nn.Module, batch: Batch | PairBatch) -> int:
    """Operations of `net`'s forward pass over the real positions of `batch`."""
    return COUNTERS[type(net)](net, batch)


def training_flops(net: nn.Module, batches) -> int:
    """Operations of training steps (forward and backward) over `batches`, e.g. one epoch's loader."""
    return TRAIN_PER_FORWARD * sum(forward_flops(net, batch) for batch in batches)
