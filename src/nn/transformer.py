"""A small pre-norm Transformer (Vaswani et al. 2017; the norm before each block, Xiong et al. 2020)
behind the recurrent core's interface, so every network, beam search and sampling take it as they
take a recurrent cell (`model=transformer`; docs/transformer.md):

    h = W_in x + position(t)                       (sinusoidal, or a learned table)
    each layer:  h = h + SelfAttention(LN(h))       (causal one way; every real step when bidirectional)
                 h = h + CrossAttention(LN(h), M)   (a decoder's layers only: M, the encoder's outputs)
                 h = h + W_2 gelu(W_1 LN(h))        (feed-forward, 4 x hidden wide)
    outputs = LN(h)                                 (B, T, H): directions do not double the width

`forward(x, lengths, state) -> (outputs, TransformerState)` as RecurrentCore's. One way (causal), the
state caches every layer's self-attention keys and values, so a step fed with the state gives what the
whole sequence gives at that step (sampling, greedy and beam decoding call it one step at a time).
Bidirectional, every output reads the steps after it: there is nothing to go on from, and the state
carries only the outputs (for `bridge` and `last_layer_state`).
"""

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.nn.flops import linear, product

POSITIONS = ("sinusoidal", "learned")


@dataclass(frozen=True)
class TransformerState:
    """What a TransformerCore hands back and is handed to go on.

    keys, values: per layer (B, heads, P, H/heads), the self-attention keys and values of the P steps read
        so far (a one-way core); empty for a bidirectional core and for a decoder that has read nothing yet;
    mask: (B, P) True at the real steps among them (padding in an earlier batch stays masked);
    outputs: (B, T, H) the top layer's outputs of the last call, summary: (B, H) one per sequence;
    memory, memory_mask: (B, S, M) and (B, S), what a decoder's cross-attention reads (`bridge`);
    memory_keys, memory_values: per layer (B, heads, S, H/heads), the cross-attention's keys and values
        of the memory, made at a decoder's first call and kept: each later step only reads them."""

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    mask: Tensor
    outputs: Tensor | None = None
    summary: Tensor | None = None
    memory: Tensor | None = None
    memory_mask: Tensor | None = None
    memory_keys: tuple[Tensor, ...] = ()
    memory_values: tuple[Tensor, ...] = ()

    def select(self, index: Tensor) -> "TransformerState":
        """Rows `index` of the batch (beam search reorders and repeats hypotheses)."""

        def pick(value):
            if isinstance(value, tuple):
                return tuple(part.index_select(0, index) for part in value)
            return None if value is None else value.index_select(0, index)

        return TransformerState(**{f.name: pick(getattr(self, f.name)) for f in fields(self)})


def sinusoidal(positions: Tensor, size: int) -> Tensor:
    """(B, T) positions -> (B, T, size): sines then cosines of position / 10000^(2i/size). No weights,
    and defined at any position: a model meets lengths it never trained on."""
    half = (size + 1) // 2
    rates = torch.exp(torch.arange(half, device=positions.device) * (-math.log(10000.0) * 2 / size))  # (half,)
    angles = positions.unsqueeze(-1).float() * rates  # (B, T, half)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)[..., :size]


class HeadedAttention(nn.Module):
    """Multi-head scaled dot-product attention: queries of `size`, keys and values from a source of
    `source_size`; `allowed` (B, 1, T, S) says which (query, key) pairs may look."""

    def __init__(self, size: int, heads: int, dropout: float, source_size: int | None = None):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(size, size)
        self.key_value = nn.Linear(source_size or size, 2 * size)
        self.out = nn.Linear(size, size)

    def split(self, x: Tensor) -> Tensor:
        batch, steps, size = x.shape
        return x.view(batch, steps, self.heads, size // self.heads).transpose(1, 2)  # (B, heads, T, H/heads)

    def keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        keys, values = self.key_value(source).chunk(2, dim=-1)  # (B, S, H) each
        return self.split(keys), self.split(values)

    def weights(self, x: Tensor, keys: Tensor, allowed: Tensor) -> Tensor:
        """The attention weights forward mixes the values with, written out: softmax over the allowed
        keys of query . key / sqrt(H/heads), (B, heads, T, S); a query that may look nowhere gets 0."""
        query = self.split(self.query(x))  # (B, heads, T, H/heads)
        scores = query @ keys.to(query.dtype).transpose(-2, -1) / math.sqrt(query.shape[-1])  # (B, heads, T, S)
        return scores.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)

    def forward(self, x: Tensor, keys: Tensor, values: Tensor, allowed: Tensor) -> Tensor:
        query = self.split(self.query(x))  # (B, heads, T, H/heads)
        keys, values = keys.to(query.dtype), values.to(query.dtype)  # a cache from outside autocast
        dropout = self.dropout if self.training else 0.0
        mixed = F.scaled_dot_product_attention(query, keys, values, attn_mask=allowed, dropout_p=dropout)
        batch, _, steps, _ = mixed.shape
        return self.out(mixed.transpose(1, 2).reshape(batch, steps, -1))  # (B, T, H)


class Block(nn.Module):
    """One pre-norm layer: self-attention, a decoder's cross-attention, feed-forward; each adds
    f(LayerNorm(h)) to h."""

    def __init__(self, size: int, heads: int, dropout: float, cross: bool):
        super().__init__()
        self.norm_self, self.self_attention = nn.LayerNorm(size), HeadedAttention(size, heads, dropout)
        self.norm_cross = nn.LayerNorm(size) if cross else None
        self.cross_attention = HeadedAttention(size, heads, dropout) if cross else None
        self.norm_ff = nn.LayerNorm(size)
        self.ff = nn.Sequential(nn.Linear(size, 4 * size), nn.GELU(), nn.Linear(4 * size, size))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        h: Tensor,
        allowed: Tensor,
        past: tuple[Tensor, Tensor] | None,
        memory: tuple[Tensor, Tensor] | None,
        memory_allowed: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """h (B, T, H) -> h, and this call's keys and values after the cached ones (B, heads, P+T, H/heads)."""
        normed = self.norm_self(h)
        keys, values = self.self_attention.keys_values(normed)  # (B, heads, T, H/heads)
        if past is not None:
            keys = torch.cat([past[0].to(keys.dtype), keys], dim=2)  # (B, heads, P+T, H/heads)
            values = torch.cat([past[1].to(values.dtype), values], dim=2)
        h = h + self.dropout(self.self_attention(normed, keys, values, allowed))
        if self.cross_attention is not None:
            memory_keys, memory_values = memory  # (B, heads, S, H/heads) each
            h = h + self.dropout(self.cross_attention(self.norm_cross(h), memory_keys, memory_values, memory_allowed))
        return h + self.dropout(self.ff(self.norm_ff(h))), keys, values


class TransformerCore(nn.Module):
    """The recurrent core's interface over a pre-norm Transformer: hidden_size is the model width
    (d_model), `heads` divides it, `dropout` acts on the inputs, the attention weights and each
    block's output. `cross_attention`: a decoder's layers also attend over the memory that `bridge`
    puts in their state (Seq2SeqNet builds it with `make_decoder`)."""

    cell = "transformer"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        heads: int,
        positions: str,
        max_positions: int,
        weight_drop: float = 0.0,
        cross_attention: bool = False,
    ):
        super().__init__()
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"hidden_size={hidden_size}, num_layers={num_layers}; both must be at least 1")
        if heads < 1 or hidden_size % heads:
            raise ValueError(f"heads={heads} must be at least 1 and divide hidden_size={hidden_size}")
        if positions not in POSITIONS:
            raise ValueError(f"positions={positions} is unknown; use one of {', '.join(POSITIONS)}")
        if max_positions < 1:
            raise ValueError(f"max_positions={max_positions}; give a whole number of at least 1")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout}; use a share in [0, 1)")
        if weight_drop:
            raise ValueError(f"weight_drop={weight_drop}: a transformer has no hidden-to-hidden weights to drop; use 0")
        self.hidden_size, self.num_layers, self.heads = hidden_size, num_layers, heads
        self.bidirectional, self.positions, self.max_positions = bidirectional, positions, max_positions
        self.dropout_share = dropout
        self.output_size = hidden_size  # full attention reads both ways at no extra width
        self.embed = nn.Linear(input_size, hidden_size)
        self.position_table = nn.Embedding(max_positions, hidden_size) if positions == "learned" else None
        self.layers = nn.ModuleList(Block(hidden_size, heads, dropout, cross_attention) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def hidden_grain(options: dict) -> int:
        """Valid hidden sizes are the multiples of this (every head gets the same width)."""
        return options["heads"]

    @property
    def input_size(self) -> int:
        return self.embed.in_features

    def position(self, positions: Tensor) -> Tensor:
        """(B, T) positions -> (B, T, H)."""
        if self.position_table is None:
            return sinusoidal(positions, self.hidden_size)
        if int(positions.max()) >= self.max_positions:
            raise ValueError(
                f"positions=learned holds {self.max_positions} positions and this sequence needs "
                f"{int(positions.max()) + 1}; raise model.max_positions or use positions=sinusoidal"
            )
        return self.position_table(positions)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: TransformerState | None = None):
        """x (B, T, I), lengths (B,) -> outputs (B, T, H) zero past each length, and the state. A one-way
        core given a state goes on after the steps it holds; a decoder's state holds its memory."""
        batch, steps, _ = x.shape
        device = x.device
        if lengths is None:
            real = torch.ones(batch, steps, dtype=torch.bool, device=device)
        else:
            real = torch.arange(steps, device=device) < lengths.to(device).unsqueeze(1)  # (B, T)
        if state is not None and state.keys and self.bidirectional:
            raise ValueError(
                "bidirectional=True: every output reads the steps after it, so it cannot go on from a state"
            )
        cached = state is not None and bool(state.keys)
        past = state.mask if cached else real[:, :0]  # (B, P)
        first = past.sum(1, keepdim=True)  # (B, 1): each sequence's real steps so far
        h = self.embed(x)  # (B, T, H)
        h = self.dropout(h + self.position(first + torch.arange(steps, device=device)).to(h.dtype))  # bf16-true: bf16
        seen = torch.cat([past, real], dim=1)  # (B, P+T)
        allowed = seen.unsqueeze(1).expand(batch, steps, seen.shape[1])  # (B, T, P+T)
        if not self.bidirectional:  # a step sees itself and what came before it
            order = torch.arange(seen.shape[1], device=device)
            allowed = allowed & (order <= past.shape[1] + torch.arange(steps, device=device).unsqueeze(1))
        memory = state.memory if state is not None else None
        memory_allowed, memory_keys, memory_values = None, (), ()
        if self.layers[0].cross_attention is not None:
            if memory is None:
                raise ValueError("a transformer decoder reads its encoder: start it from encoder.bridge(state)")
            memory_allowed = state.memory_mask[:, None, None, :]  # (B, 1, 1, S)
            memory_keys, memory_values = state.memory_keys, state.memory_values
            if not memory_keys:  # the first call: each layer's keys and values of the memory, kept in the state
                made = [layer.cross_attention.keys_values(memory) for layer in self.layers]
                memory_keys, memory_values = tuple(k for k, _ in made), tuple(v for _, v in made)
        keys, values = [], []
        for i, layer in enumerate(self.layers):
            layer_past = (state.keys[i], state.values[i]) if cached else None
            layer_memory = (memory_keys[i], memory_values[i]) if memory_keys else None
            h, k, v = layer(h, allowed.unsqueeze(1), layer_past, layer_memory, memory_allowed)  # mask (B, 1, T, P+T)
            keys.append(k)
            values.append(v)
        outputs = self.norm(h).masked_fill(~real.unsqueeze(-1), 0.0)  # (B, T, H)
        if self.bidirectional:
            # every output has read the whole sequence, so no step is the one to keep: the mean over the
            # real steps (pooling without a [CLS] symbol) uses them all and does not hinge on the last letter
            summary = outputs.sum(1) / real.sum(1, keepdim=True).to(outputs.dtype)  # (B, H)
            keys, values, seen = [], [], real
        else:  # the last real step, the only one that has read the whole sequence
            last = real.sum(1) - 1  # (B,)
            summary = outputs[torch.arange(batch, device=device), last]  # (B, H)
        new = TransformerState(
            tuple(keys),
            tuple(values),
            seen,
            outputs,
            summary,
            memory,
            None if state is None else state.memory_mask,
            memory_keys,
            memory_values,
        )
        return outputs, new

    def flops(self, lengths: Tensor, memory_lengths: Tensor | None = None) -> int:
        """Operations over sequences of `lengths` (B,) (src/nn/flops.py): per real step the input
        projection and per layer the query, key, value and output projections (4 H^2) and the
        feed-forward (8 H^2); per (query, key) pair a score and a share of the context (H each: causal
        pairs t' <= t one way, every pair both ways). A decoder's cross-attention adds its query and
        output projections per step, its keys and values per memory step (`memory_lengths`) and one
        pair per (step, memory step)."""
        width, steps = self.hidden_size, int(lengths.sum())
        pairs = int((lengths * lengths).sum()) if self.bidirectional else int((lengths * (lengths + 1) // 2).sum())
        layer = product(width, 4 * width, steps) + 2 * product(width, 4 * width, steps) + 2 * product(width, 1, pairs)
        cross = self.layers[0].cross_attention
        if cross is not None:
            sources, memory_pairs = int(memory_lengths.sum()), int((lengths * memory_lengths).sum())
            layer += linear(cross.query, steps) + linear(cross.out, steps)
            layer += linear(cross.key_value, sources) + 2 * product(width, 1, memory_pairs)
        return linear(self.embed, steps) + self.num_layers * layer

    def attention(self, x: Tensor, lengths: Tensor | None = None, state: TransformerState | None = None):
        """Every attention's weights as `forward(x, lengths, state)` uses them, no gradients:
        [(name, (B, heads, T, S))] in order, "layer k self" (S: the cached and new steps) and, in a
        decoder, "layer k cross" (S: the memory's steps). In eval mode the weights are exactly the mix."""
        found = []

        def keep(name: str):
            def hook(module: HeadedAttention, args: tuple, output: Tensor) -> None:
                x, keys, _, allowed = args
                found.append((name, module.weights(x, keys, allowed)))

            return hook

        hooks = []
        for k, layer in enumerate(self.layers, 1):
            hooks.append(layer.self_attention.register_forward_hook(keep(f"layer {k} self")))
            if layer.cross_attention is not None:
                hooks.append(layer.cross_attention.register_forward_hook(keep(f"layer {k} cross")))
        try:
            with torch.no_grad():
                self(x, lengths, state)
        finally:
            for hook in hooks:
                hook.remove()
        return found

    def last_layer_state(self, state: TransformerState) -> Tensor:
        """The (B, H) summary of each sequence: the last real step's output one way, the mean of the
        real steps' outputs when bidirectional (see forward)."""
        return state.summary

    def bridge(self, state: TransformerState) -> TransformerState:
        """This encoder's outputs as a decoder's initial state: nothing read yet, the outputs and their
        mask as the memory its cross-attention reads."""
        nothing = state.mask[:, :0]  # (B, 0)
        return TransformerState((), (), nothing, memory=state.outputs, memory_mask=state.mask)

    def make_decoder(self, input_size: int) -> "TransformerCore":
        """A one-way core as wide as this one's outputs, as many layers, with cross-attention over them."""
        return TransformerCore(
            input_size,
            self.output_size,
            self.num_layers,
            self.dropout_share,
            False,
            self.heads,
            self.positions,
            self.max_positions,
            cross_attention=True,
        )

    @staticmethod
    def select_state(state: TransformerState, index: Tensor) -> TransformerState:
        """Rows `index` of the batch of every tensor in the state."""
        return state.select(index)
