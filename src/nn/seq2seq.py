"""Encoder-decoder for sequence to sequence: the encoder reads the source (packed), the decoder
writes the target one symbol at a time, optionally attending over the encoder's outputs.

Decoder (Luong et al. 2015, attention after the recurrent step, no input feeding):
    state_t = RNN(embed(y_{t-1}), state_{t-1});  context_t = attention(state_t, encoder outputs)
    logits_t = E^T tanh(W [state_t; context_t])      (E: the target embedding, tied)
Because no step's input depends on an earlier step's attention, a teacher-forced target runs
through the decoder in one call, and every step attends at once: training costs a few large
matrix products instead of a Python loop of small ones. Greedy and beam decoding call `decode`
one step at a time (T = 1); the two paths are the same function. Training calls `decode_real`,
the same arithmetic on the real target steps: the recurrence packed, and the output layer (the
largest product: every target word) and the loss only where there is a target; attention over the
padded steps of a few items at a time (bucketed batches have little padding), then cut.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from src.data.batching import IGNORE, PairBatch
from src.nn.attention import Attention
from src.nn.flops import linear
from src.nn.gates import Reading
from src.nn.recurrent import State, make_core

ATTENTIONS = ("none", "dot", "general", "additive")
# decode_real attends for as many items at once as keep its largest intermediate (target steps x source
# steps x the attention's width) within this many numbers (64 MB in float32). Translate's training batches
# are one piece; a 500-bit addition (1,002 source steps, 502 target steps) is one item a piece: it asked
# for 23 GB at once when every real step copied its source's memory.
CHUNK = 1 << 24


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
    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embedding_dim: int,
        dropout: float,
        core: dict,
        attention: str,
        pad_id: int,
    ):
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
        in the order of the (B, T) mask: what `decode` gives at those steps; the output layer works on them alone."""
        outputs, _ = self.decoder(self.dropout(self.tgt_embed(prev)), lengths, state)  # (B, T, H), packed
        real = torch.arange(prev.shape[1], device=prev.device) < lengths.to(prev.device).unsqueeze(1)  # (B, T)
        if self.attention is not None:  # every step of a piece of items at once, the padding cut after
            per_item = prev.shape[1] * memory.keys.shape[1] * self.attention.width  # its largest intermediate
            step = max(1, CHUNK // per_item)
            contexts = []
            for start in range(0, len(prev), step):
                part = Memory(*(None if m is None else m[start : start + step] for m in memory))
                contexts.append(self.attention(outputs[start : start + step], part.keys, part.mask, part.projected)[0])
            outputs = torch.cat([outputs, torch.cat(contexts)], dim=-1)  # (B, T, 2H)
        outputs = outputs[real]  # (N, H or 2H)
        return self.out(self.dropout(torch.tanh(self.combine(outputs))))  # (N, V)

    def readings(self, batch: PairBatch) -> list[Reading]:
        """The encoder reading the source and the decoder reading the gold target (start first) from the
        encoder's bridged state, `batch` on this network's device, in eval mode: no dropout."""
        src = self.src_embed(batch.src)  # (B, S, E)
        _, state = self.encoder(src, batch.src_lengths)
        tgt_lengths = (batch.tgt_out != IGNORE).sum(1).cpu()  # start + target: as long as target + end
        tgt = self.tgt_embed(batch.tgt_in)  # (B, T, E)
        encoder = Reading("encoder", self.encoder, src, batch.src_lengths.cpu())
        return [encoder, Reading("decoder", self.decoder, tgt, tgt_lengths, self.encoder.bridge(state))]

    def forward_flops(self, batch: PairBatch) -> int:
        """Operations of the forward pass (src/nn/flops.py): encoder over the source steps; decoder,
        attention, combine and output layer over the target steps; attention scores and context over
        every (target step, source step) pair of an item."""
        src, tgt = batch.src_lengths, (batch.tgt_out != IGNORE).sum(1)
        sources, targets, pairs = int(src.sum()), int(tgt.sum()), int((src * tgt).sum())
        total = self.encoder.flops(src) + self.decoder.flops(tgt, memory_lengths=src)
        total += linear(self.combine, targets) + linear(self.out, targets)
        if self.attention is not None:
            sizes = self.decoder.output_size, self.encoder.output_size  # query, keys
            total += self.attention.flops(*sizes, sources, targets, pairs)
        return total
