"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read the input only,
so a whole sequence is one linear recurrence h_t = a_t * h_{t-1} + b_t, computed for every step at
once by a parallel scan in log space (Heinsen 2023), or step by step (`scan="sequential"`, the same
numbers; what sampling and beam search amount to, one step per call).

    mingru   z = sigmoid(W_z x + b_z);  h~ = g(W_h x + b_h)
             h' = (1 - z) * h + z * h~
    minlstm  f, i = sigmoid(W_f x + b_f), sigmoid(W_i x + b_i);  h~ = g(W_h x + b_h)
             f', i' = f / (f + i), i / (f + i);  h' = f' * h + i' * h~

g(v) = v + 0.5 for v >= 0, sigmoid(v) below: positive, so every b_t > 0 and the scan adds logarithms
(log h_t = a*_t + logcumsumexp(log b - a*)_t with a* the running sum of log a). An initial state of
any sign (a decoder started from an encoder's state) adds exp(a*_t) * h_0.

`MinimalRNN` has nn.GRU's interface (batch-first input or a PackedSequence, an initial state
(L * D, B, H), outputs and the final state back), so `RecurrentCore` runs it as it runs torch's cells.
Its weights are named as torch names the input-to-hidden ones (`weight_ih_l0`, `bias_ih_l0_reverse`):
there are no hidden-to-hidden weights, which is the point.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

# the rows of each cell's fused input weights, in order
PARTS = {"mingru": ("update", "candidate"), "minlstm": ("forget", "input", "candidate")}


def g(v: Tensor) -> Tensor:
    """The positive activation of the candidate state."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def coefficients(cell: str, x_part: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """log a, log b (B, T, H) of h_t = a_t h_{t-1} + b_t from the input's share W x + b (B, T, G*H), and
    the gates by name (for inspection)."""
    if cell == "mingru":
        k, v = x_part.chunk(2, dim=-1)
        log_a, log_z = -F.softplus(k), -F.softplus(-k)  # log(1 - sigmoid k), log sigmoid k
        return log_a, log_z + log_g(v), {"update": torch.sigmoid(k), "candidate": g(v)}
    kf, ki, v = x_part.chunk(3, dim=-1)
    gap = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
    log_f, log_i = -F.softplus(gap), -F.softplus(-gap)  # log f/(f+i), log i/(f+i)
    return log_f, log_i + log_g(v), {"forget": log_f.exp(), "input": log_i.exp(), "candidate": g(v)}


def parallel_scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None) -> Tensor:
    """Every h_t (B, T, H) of h_t = a_t h_{t-1} + b_t, b_t > 0, from h0 (B, H) or zeros, in log space."""
    a_star = log_a.cumsum(dim=1)
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    return h if h0 is None else h + torch.exp(a_star) * h0.unsqueeze(1)


def sequential_scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None) -> Tensor:
    """The same recurrence one step at a time."""
    a, b = log_a.exp(), log_b.exp()
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    steps = []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        steps.append(h)
    return torch.stack(steps, dim=1)


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence of x (B, T, F) reversed within its length, the padding left in place (its own inverse)."""
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device).expand(len(lengths), steps)
    last = (lengths.to(x.device) - 1).unsqueeze(1)
    order = torch.where(t <= last, last - t, t)
    return x.gather(1, order.unsqueeze(-1).expand_as(x))


class MinimalRNN(nn.Module):
    """`cell` in mingru|minlstm, with nn.GRU's arguments and interface (batch_first=True only)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        scan: str = "parallel",
    ):
        super().__init__()
        if cell not in PARTS:
            raise ValueError(f"cell={cell} is unknown; use one of {', '.join(PARTS)}")
        if not batch_first:
            raise ValueError("batch_first=False: MinimalRNN reads (B, T, I)")
        if scan not in ("parallel", "sequential"):
            raise ValueError(f"scan={scan}; use parallel or sequential")
        self.cell, self.hidden_size, self.num_layers, self.dropout, self.scan = (
            cell,
            hidden_size,
            num_layers,
            dropout,
            scan,
        )
        self.input_size, self.bidirectional, self.directions = input_size, bidirectional, 2 if bidirectional else 1
        parts = len(PARTS[cell])
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.directions
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                linear = nn.Linear(size, parts * hidden_size)
                self.register_parameter(f"weight_ih{suffix}", linear.weight)
                self.register_parameter(f"bias_ih{suffix}", linear.bias)

    def forward(self, x: Tensor | PackedSequence, h0: Tensor | None = None):
        """x (B, T, I) or packed; h0 (L * D, B, H) or None -> outputs like x (B, T, D * H), h_n (L * D, B, H)."""
        packed = isinstance(x, PackedSequence)
        if packed:
            x, lengths = pad_packed_sequence(x, batch_first=True)  # the batch in its original order
        else:
            lengths = torch.full((x.shape[0],), x.shape[1])
        last = (lengths.to(x.device) - 1).view(-1, 1, 1).expand(-1, 1, self.hidden_size)  # (B, 1, H)
        layer_input, finals = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                seq = layer_input if direction == 0 else reverse_within(layer_input, lengths)
                h = self.run(layer, direction, seq, None if h0 is None else h0[index])  # (B, T, H), reading order
                finals.append(h.gather(1, last).squeeze(1))  # at each sequence's last step
                outputs.append(h if direction == 0 else reverse_within(h, lengths))
            layer_input = torch.cat(outputs, dim=-1)
            if self.training and self.dropout and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout)
        h_n = torch.stack(finals)  # (L * D, B, H)
        if packed:
            return pack_padded_sequence(layer_input, lengths, batch_first=True, enforce_sorted=False), h_n
        return layer_input, h_n

    def run(self, layer: int, direction: int, seq: Tensor, h0: Tensor | None) -> Tensor:
        """One layer and direction over seq (B, T, I) in its reading order: every h_t (B, T, H)."""
        log_a, log_b, _ = coefficients(self.cell, self.input_share(layer, direction, seq))
        scan = parallel_scan if self.scan == "parallel" else sequential_scan
        return scan(log_a, log_b, h0)

    def input_share(self, layer: int, direction: int, seq: Tensor) -> Tensor:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return F.linear(seq, getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias_ih{suffix}"))
