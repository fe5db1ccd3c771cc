"""Floating-point operations of a network's forward pass, counted from its shapes: every matrix product
(recurrent gates, input projections, attention, output layers) on the real, unpadded positions of a
batch, at 2 operations per multiply-add. Element-wise work (activations, softmax, loss, embedding
look-ups, biases) is left out.

Each network counts its own (`forward_flops(batch)`) from these two helpers and the counts of its
parts (`RecurrentCore.flops`, `Attention.flops`); benchmarks/flops.py makes a training step of it.
"""

from torch import nn


def product(inputs: int, outputs: int, rows: int) -> int:
    """(rows, inputs) @ (inputs, outputs)."""
    return 2 * inputs * outputs * rows


def linear(layer: nn.Module, rows: int) -> int:
    """`layer` on `rows` rows: its product when it is an nn.Linear, 0 for nn.Identity."""
    return product(layer.in_features, layer.out_features, rows) if isinstance(layer, nn.Linear) else 0
