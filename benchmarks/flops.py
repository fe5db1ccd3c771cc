"""Floating-point operations of a training step, counted from the network's shapes: every matrix
product (recurrent gates, input projections, attention, output layers) on the real, unpadded
positions of a batch, at 2 operations per multiply-add (a transformer: its projections per step and
its attention per pair of steps it lets look at each other). Element-wise work (activations, softmax,
loss, embedding look-ups, biases) is left out. Backward costs twice the forward (a product's
gradient needs two products of the same size), so a training step is 3 x forward.

The speed benchmark divides an epoch's count by its time for `fraction_of_peak` (see speed.py).
"""

from torch import Tensor, nn

from src.data.batching import IGNORE, Batch, PairBatch
from src.nn.classifier import SequenceClassifierNet
from src.nn.labeller import StepLabellerNet
from src.nn.language_model import CharLanguageModelNet
from src.nn.recurrent import RecurrentCore
from src.nn.seq2seq import Seq2SeqNet
from src.nn.transformer import TransformerCore

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


def transformer(core: TransformerCore, lengths: Tensor, memory_lengths: Tensor | None = None) -> int:
    """(issue 28) A TransformerCore over sequences of `lengths` (B,): per real step the input projection
    and per layer the query, key, value and output projections (4 H^2) and the feed-forward (8 H^2); per
    (query, key) pair a score and a share of the context (H each: causal pairs t' <= t one way, every
    pair both ways). A decoder's cross-attention adds its query and output projections per step, its
    keys and values per memory step (`memory_lengths`) and one pair per (step, memory step)."""
    width, steps = core.hidden_size, int(lengths.sum())
    pairs = int((lengths * lengths).sum()) if core.bidirectional else int((lengths * (lengths + 1) // 2).sum())
    layer = product(width, 4 * width, steps) + 2 * product(width, 4 * width, steps) + 2 * product(width, 1, pairs)
    if core.layers[0].cross_attention is not None:
        sources, memory_pairs = int(memory_lengths.sum()), int((lengths * memory_lengths).sum())
        attention = core.layers[0].cross_attention
        layer += linear(attention.query, steps) + linear(attention.out, steps)
        layer += linear(attention.key_value, sources) + 2 * product(width, 1, memory_pairs)
    return linear(core.embed, steps) + core.num_layers * layer


def core_flops(core: RecurrentCore | TransformerCore, lengths: Tensor, memory_lengths: Tensor | None = None) -> int:
    """A core over sequences of `lengths`: a recurrent cell's cost is per step, attention's per pair of steps."""
    if isinstance(core, TransformerCore):
        return transformer(core, lengths, memory_lengths)
    return recurrent(core, int(lengths.sum()))


def classifier(net: SequenceClassifierNet, batch: Batch) -> int:
    return core_flops(net.core, batch.lengths) + linear(net.head, len(batch.lengths))


def language_model(net: CharLanguageModelNet, batch: Batch) -> int:
    steps = int(batch.lengths.sum())
    return core_flops(net.core, batch.lengths) + linear(net.proj, steps) + linear(net.head, steps)


def labeller(net: StepLabellerNet, batch: Batch) -> int:
    steps = int(batch.lengths.sum())  # one-hot inputs are multiplied as they are: core.rnn.input_size is the vocabulary
    return core_flops(net.core, batch.lengths) + linear(net.head, steps)


def seq2seq(net: Seq2SeqNet, batch: PairBatch) -> int:
    """Encoder over the source steps; decoder, attention, combine and output layer over the target
    steps; attention scores and context over every (target step, source step) pair of an item."""
    src, tgt = batch.src_lengths, (batch.tgt_out != IGNORE).sum(1)
    sources, targets, pairs = int(src.sum()), int(tgt.sum()), int((src * tgt).sum())
    total = core_flops(net.encoder, src) + core_flops(net.decoder, tgt, memory_lengths=src)
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
