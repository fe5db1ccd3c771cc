"""Encoder-decoder for sequence to sequence: the encoder reads the source (packed), the decoder
writes the target one symbol at a time, optionally attending over the encoder's outputs.

Decoder (Luong et al. 2015, attention after the recurrent step, no input feeding):
    state_t = RNN(embed(y_{t-1}), state_{t-1});  context_t = attention(state_t, encoder outputs)
    logits_t = E^T tanh(W [state_t; context_t])      (E: the target embedding, tied)
Because no step's input depends on an earlier step's attention, a teacher-forced target runs
through the decoder in one call, and every step attends at once: training costs a few large
matrix products instead of a Python loop of small ones. Greedy and beam decoding call `decode`
one step at a time (T = 1); the two paths are the same function. Training calls `decode_real`,
the same arithmetic on the real target steps alone: the recurrence packed, and attention, the
output layer (the largest product: every target word) and the loss only where there is a target.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from src.nn.attention import Attention
from src.nn.recurrent import State, make_core

ATTENTIONS = ("none", "dot", "general", "additive")


class Memory(NamedTuple):
    """What the decoder attends over: encoder outputs (B, S, D*H), their projection for the
    attention score (B, S, A), and the mask of real source steps (B, S)."""

    keys: Tensor
    projected: Tensor | None
    mask: Tensor

    def select(self, index: Tensor) -> "Memory":
        """Rows `index` of the batch (for beam search: each source repeated once per hypothesis)."""
        return Memory(*(None if part is None else part.index_select(0, index) for part in self))


class Seq2SeqNet(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, embedding_dim: int, dropout: float, core: dict,
                 attention: str, pad_id: int):  # fmt: skip
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention={attention} is unknown; use one of {', '.join(ATTENTIONS)}")
        self.src_embed = nn.Embedding(src_vocab, embedding_dim, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab, embedding_dim)
        self.encoder = make_core(input_size=embedding_dim, **core)
        size = self.encoder.output_size  # the decoder is as wide as both encoder directions together
        self.decoder = self.encoder.make_decoder(embedding_dim)  # one way; a transformer's also attends to the encoder
        self.attention = Attention(attention, size, size) if attention != "none" else None
        self.combine = nn.Linear(size * 2 if self.attention else size, embedding_dim)  # Luong's attentional state
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(embedding_dim, tgt_vocab)
        self.out.weight = self.tgt_embed.weight  # tied (Press & Wolf, 2017): (V, E) both ways

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Memory, State]:
        """src (B, S) -> the memory to attend over and the decoder's initial state."""
        keys, state = self.encoder(self.dropout(self.src_embed(src)), src_lengths)  # (B, S, D*H)
        mask = torch.arange(src.shape[1], device=src.device) < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        projected = self.attention.project(keys) if self.attention is not None else None
        return Memory(keys, projected, mask), self.encoder.bridge(state)

    def decode(self, prev: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor | None]:
        """prev (B, T) symbols (each step's input: the symbol before it) -> logits (B, T, V), the
        state after the last step, attention weights (B, T, S) or None. T = 1 is one step."""
        outputs, state = self.decoder(self.dropout(self.tgt_embed(prev)), None, state)  # (B, T, H)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(outputs, memory.keys, memory.mask, memory.projected)  # (B, T, H)
            outputs = torch.cat([outputs, context], dim=-1)
        return self.out(self.dropout(torch.tanh(self.combine(outputs)))), state, weights

    def decode_real(self, prev: Tensor, lengths: Tensor, state: State, memory: Memory) -> Tensor:
        """prev (B, T) and the target lengths (B,) -> logits (N, V) of the N real steps (t < lengths[b]),
        in the order of the (B, T) mask: what `decode` gives at those steps, with no work on the rest."""
        outputs, _ = self.decoder(self.dropout(self.tgt_embed(prev)), lengths, state)  # (B, T, H), packed
        real = torch.arange(prev.shape[1], device=prev.device) < lengths.to(prev.device).unsqueeze(1)  # (B, T)
        outputs = outputs[real]  # (N, H)
        if self.attention is not None:  # each real step against its own source: one-step attention, N rows
            memory = memory.select(real.nonzero()[:, 0])  # (N, S, .)
            context, _ = self.attention(outputs, memory.keys, memory.mask, memory.projected)  # (N, H)
            outputs = torch.cat([outputs, context], dim=-1)
        return self.out(self.dropout(torch.tanh(self.combine(outputs))))  # (N, V)
