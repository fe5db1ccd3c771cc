"""Sequence -> one label per step: input symbols (embedded or one-hot), recurrent core, linear."""

import torch.nn.functional as F
from torch import Tensor, nn

from src.data.batching import Batch
from src.nn.flops import linear
from src.nn.gates import Reading
from src.nn.recurrent import make_core


class StepLabellerNet(nn.Module):
    """ids (B, T) and lengths (B,) -> logits (B, T, num_classes).

    embedding_dim 0 feeds one-hot vectors of the input symbols (the course's first version).
    """

    def __init__(self, vocab_size: int, num_classes: int, embedding_dim: int, dropout: float, core: dict, pad_id: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id) if embedding_dim else None
        self.core = make_core(input_size=embedding_dim or vocab_size, **core)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.core.output_size, num_classes)

    def inputs(self, tokens: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, V or E): one-hot in the head's dtype (bf16-true: bf16), or embedded."""
        if self.embed is None:
            return F.one_hot(tokens, self.vocab_size).to(self.head.weight.dtype)
        return self.embed(tokens)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        x = self.inputs(tokens)  # (B, T, V or E)
        outputs, _ = self.core(self.dropout(x), lengths)  # (B, T, D*H)
        return self.head(self.dropout(outputs))  # (B, T, C)

    def readings(self, batch: Batch) -> list[Reading]:
        """The core, what it reads of `batch` (on this network's device) and its per-step head, in eval
        mode: no dropout."""
        return [Reading("core", self.core, self.inputs(batch.tokens), batch.lengths.cpu(), head=self.head)]

    def forward_flops(self, batch: Batch) -> int:
        """Operations of the forward pass over the real steps of `batch` (src/nn/flops.py). One-hot inputs
        are multiplied as they are: the core's input size is then the vocabulary."""
        steps = int(batch.lengths.sum())
        return self.core.flops(batch.lengths) + linear(self.head, steps)
