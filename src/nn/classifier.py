"""Sequence -> one label: embedding, recurrent core, a summary of the sequence, linear."""

import torch
from torch import Tensor, nn

from src.data.batching import Batch
from src.nn.flops import linear
from src.nn.gates import Reading
from src.nn.recurrent import make_core

POOLINGS = ("last", "last_max")


class SequenceClassifierNet(nn.Module):
    """ids (B, T) and lengths (B,) -> logits (B, num_classes).

    pooling `last`: the final state of each direction (the course's "last time step");
    `last_max`: that, concatenated with the element-wise max of the outputs over the real steps.
    `symbol_dropout`: in training, the share of input symbols whose embedding is zeroed.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int,
        dropout: float,
        core: dict,
        pooling: str,
        symbol_dropout: float,
        pad_id: int,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling} is unknown; use one of {', '.join(POOLINGS)}")
        self.pooling, self.symbol_dropout = pooling, symbol_dropout
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.core = make_core(input_size=embedding_dim, **core)
        self.dropout = nn.Dropout(dropout)
        summary_size = self.core.output_size * (2 if pooling == "last_max" else 1)
        self.head = nn.Linear(summary_size, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embed(tokens))  # (B, T, E)
        if self.training and self.symbol_dropout > 0:  # blank whole symbols: no single letter decides
            keep = torch.rand(tokens.shape, device=x.device) >= self.symbol_dropout  # (B, T)
            x = x * keep.unsqueeze(-1)
        outputs, state = self.core(x, lengths)  # (B, T, D*H)
        summary = self.core.last_layer_state(state)  # (B, D*H): the last real step of each name
        if self.pooling == "last_max":
            steps = torch.arange(tokens.shape[1], device=tokens.device)
            padding = (steps >= lengths.to(tokens.device).unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
            pooled = outputs.masked_fill(padding, torch.finfo(outputs.dtype).min).amax(dim=1)  # (B, D*H)
            summary = torch.cat([summary, pooled], dim=-1)  # (B, 2*D*H)
        return self.head(self.dropout(summary))  # (B, C)

    def readings(self, batch: Batch) -> list[Reading]:
        """The core and what it reads of `batch` (on this network's device), in eval mode: no dropout."""
        return [Reading("core", self.core, self.embed(batch.tokens), batch.lengths.cpu())]

    def forward_flops(self, batch: Batch) -> int:
        """Operations of the forward pass over the real steps of `batch` (src/nn/flops.py)."""
        return self.core.flops(batch.lengths) + linear(self.head, len(batch.lengths))
