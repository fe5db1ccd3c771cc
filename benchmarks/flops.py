"""Floating-point operations of a training step: each network counts its forward pass over the real,
unpadded positions of a batch (`forward_flops(batch)`, what is counted: src/nn/flops.py), so a new
kind of network needs no entry here. Backward costs twice the forward (a product's gradient needs two
products of the same size), so a training step is 3 x forward.

The speed benchmark divides an epoch's count by its time for `fraction_of_peak` (see speed.py).
"""

from torch import nn

from src.data.batching import Batch, PairBatch

TRAIN_PER_FORWARD = 3  # forward + backward (gradients of the inputs and of the weights)


def forward_flops(net: nn.Module, batch: Batch | PairBatch) -> int:
    """Operations of `net`'s forward pass over the real positions of `batch`."""
    return net.forward_flops(batch)


def training_flops(net: nn.Module, batches) -> int:
    """Operations of training steps (forward and backward) over `batches`, e.g. one epoch's loader."""
    return TRAIN_PER_FORWARD * sum(forward_flops(net, batch) for batch in batches)
