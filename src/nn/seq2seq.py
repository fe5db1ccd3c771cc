"""Encoder-decoder for sequence to sequence: the encoder reads the source (packed), the decoder
writes the target one symbol at a time, optionally attending over the encoder's outputs.

Decoder step (Luong, with input feeding): state = RNN([embed(y_prev); context_prev], state);
context = attention(state, encoder outputs); logits = Linear([state; context]).
"""

import torch
from torch import Tensor, nn

from src.errors import UserError
from src.nn.attention import Attention
from src.nn.recurrent import RecurrentCore

ATTENTIONS = ("none", "dot", "general", "additive")


class Seq2SeqNet(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, embedding_dim: int, dropout: float, core: dict,
                 attention: str = "additive"):  # fmt: skip
        super().__init__()
        if attention not in ATTENTIONS:
            raise UserError(f"task.module.attention={attention} is unknown; use one of {', '.join(ATTENTIONS)}")
        self.src_embed = nn.Embedding(src_vocab, embedding_dim, padding_idx=0)
        self.tgt_embed = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=0)
        self.encoder = RecurrentCore(input_size=embedding_dim, **core)
        size = self.encoder.output_size  # the decoder is as wide as both encoder directions together
        self.context_size = size if attention != "none" else 0
        decoder_core = {**core, "hidden_size": size, "bidirectional": False}
        self.decoder = RecurrentCore(input_size=embedding_dim + self.context_size, **decoder_core)
        self.attention = Attention(attention, size, size) if attention != "none" else None
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(size + self.context_size, tgt_vocab)

    def encode(self, src: Tensor, src_lengths: Tensor):
        """src (B, S) -> keys (B, S, D*H), mask (B, S), the decoder's initial state."""
        outputs, state = self.encoder(self.dropout(self.src_embed(src)), src_lengths)
        mask = torch.arange(src.shape[1], device=src.device) < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        return outputs, mask, self.encoder.bridge(state)

    def step(self, prev: Tensor, state, context: Tensor, keys: Tensor, mask: Tensor):
        """One decoder step: prev (B,) -> logits (B, V), state, context (B, C), weights (B, S) or None."""
        x = self.dropout(self.tgt_embed(prev))  # (B, E)
        if self.attention is not None:
            x = torch.cat([x, context], dim=-1)  # input feeding: the last context goes in too
        output, state = self.decoder(x.unsqueeze(1), None, state)  # (B, 1, H)
        output = output.squeeze(1)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(output, keys, mask)  # (B, C), (B, S)
            output = torch.cat([output, context], dim=-1)
        return self.out(self.dropout(output)), state, context, weights

    def start_context(self, keys: Tensor) -> Tensor:
        return keys.new_zeros(keys.shape[0], self.context_size)
