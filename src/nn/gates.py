"""The gates inside a RecurrentCore, which the fused nn.RNN/LSTM/GRU kernels do not expose: `replay`
runs the core's own weights step by step, every layer and direction, in plain torch, and returns
each step's hidden state and gates; `gradient_flow` measures how far back a loss reaches.

The equations are torch's (gate order as in its fused weights):
    rnn   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    lstm  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x + b_ih + W_hh h + b_hh)
          c' = f * c + i * g;  h' = o * tanh(c')
    gru   r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
    mingru, minlstm: their gates read the input only (src/nn/minimal.py); the same step loop replays
          them, gates and candidate by name, from the weights `weight_ih_l{k}` the cells share with torch's.
The replay is of the core in eval mode: no dropout between layers.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from src.nn.minimal import PARTS, coefficients
from src.nn.recurrent import RecurrentCore, State

# what `replay` returns for each cell, by name; "cell" is the LSTM's candidate g, "cell_state" its c
VALUES = {
    "rnn": ("hidden",),
    "lstm": ("hidden", "cell_state", "input", "forget", "cell", "output"),
    "gru": ("hidden", "reset", "update", "candidate"),
    "mingru": ("hidden", "update", "candidate"),
    "minlstm": ("hidden", "forget", "input", "candidate"),
}
GATES = {
    "rnn": (),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "candidate"),
    "mingru": ("update", "candidate"),  # candidate: g(W_h x + b_h), positive, not a tanh
    "minlstm": ("forget", "input", "candidate"),  # forget and input normalised to sum to one
}
SIGMOID_GATES = {
    "rnn": (),
    "lstm": ("input", "forget", "output"),
    "gru": ("reset", "update"),
    "mingru": ("update",),
    "minlstm": ("forget", "input"),
}


@dataclass
class Reading:
    """One recurrent core of a network and what it reads of a batch, as the network's forward reads it:
    inputs (B, T, I), lengths (B,) on the CPU, the initial state, and the per-step output head when
    the network has one (top-layer outputs (B, D*H) -> logits). A network says its own (`readings(batch)`);
    `replay` and `gradient_flow` take them apart."""

    name: str  # core, encoder or decoder
    core: RecurrentCore
    x: Tensor
    lengths: Tensor
    state: State | None = None
    head: Callable[[Tensor], Tensor] | None = None


@dataclass
class Trace:
    """One layer and direction of a replayed core. `values`: name (see VALUES) -> (B, T, H) in input
    order, zero past each sequence's length. `steps`: the hidden state after each step (B, H) in the
    order this direction read them, the tensors the next step was computed from (for gradients)."""

    layer: int
    direction: int  # 0: left to right, 1: right to left
    values: dict[str, Tensor]
    steps: list[Tensor]

    @property
    def name(self) -> str:
        return f"layer {self.layer + 1}" + ("" if self.direction == 0 else ", right to left")


def reading_order(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) indices that reverse each sequence within its length and leave the padding in place;
    applying them twice gives the identity."""
    t = torch.arange(steps, device=lengths.device).expand(len(lengths), steps)  # (B, T)
    last = (lengths - 1).unsqueeze(1)  # (B, 1)
    return torch.where(t <= last, last - t, t)


def _step(cell: str, x_part: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor):
    """One step from the input's share x_part = W_ih x + b_ih (B, G*H): (h', c', gates by name)."""
    if cell in PARTS:  # the gates read the input only
        _, _, gates = coefficients(cell, x_part)
        keep = 1 - gates["update"] if cell == "mingru" else gates["forget"]
        take = gates["update"] if cell == "mingru" else gates["input"]
        return keep * h + take * gates["candidate"], None, gates
    hh = h @ w_hh.T + b_hh  # (B, G*H)
    if cell == "rnn":
        return torch.tanh(x_part + hh), None, {}
    if cell == "lstm":
        i, f, g, o = (x_part + hh).chunk(4, dim=-1)  # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        return o * torch.tanh(c), c, {"input": i, "forget": f, "cell": g, "output": o, "cell_state": c}
    xr, xz, xn = x_part.chunk(3, dim=-1)
    hr, hz, hn = hh.chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h, None, {"reset": r, "update": z, "candidate": n}


def replay(
    core: RecurrentCore, x: Tensor, lengths: Tensor | None = None, state: State | None = None
) -> tuple[list[Trace], Tensor]:
    """x (B, T, I), lengths (B,) (None: all T), state as the core takes it -> a Trace per layer and
    direction (layer-major, as torch orders them) and the top layer's outputs (B, T, D*H), which equal
    `core(x, lengths, state)[0]`."""
    rnn, cell, size = core.rnn, core.cell, core.hidden_size
    if core.cell == "rnn" and rnn.nonlinearity != "tanh":
        raise ValueError(f"nonlinearity={rnn.nonlinearity}: replay knows the tanh RNN")
    batch, steps, _ = x.shape
    lengths = torch.full((batch,), steps) if lengths is None else lengths
    lengths = lengths.to(x.device)
    real = (torch.arange(steps, device=x.device) < lengths.unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    order = reading_order(lengths, steps)  # (B, T)
    h0, c0 = state if isinstance(state, tuple) else (state, None)
    zeros = x.new_zeros(batch, size)
    traces, layer_input = [], x
    for layer in range(core.num_layers):
        outputs = []
        for direction in range(core.directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh = getattr(rnn, f"weight_ih{suffix}"), getattr(rnn, f"weight_hh{suffix}", None)
            b_ih, b_hh = getattr(rnn, f"bias_ih{suffix}"), getattr(rnn, f"bias_hh{suffix}", None)
            index = layer * core.directions + direction
            h = zeros if h0 is None else h0[index]
            c = (zeros if c0 is None else c0[index]) if cell == "lstm" else None
            seq = layer_input if direction == 0 else layer_input.gather(1, order.unsqueeze(-1).expand_as(layer_input))
            x_part = seq @ w_ih.T + b_ih  # (B, T, G*H): the input's share of every step at once
            per_step, hs = {name: [] for name in VALUES[cell]}, []
            for t in range(steps):
                h, c, gates = _step(cell, x_part[:, t], h, c, w_hh, b_hh)
                hs.append(h)
                for name, value in {"hidden": h, **gates}.items():
                    per_step[name].append(value)
            values = {}
            for name, seq_values in per_step.items():
                stacked = torch.stack(seq_values, dim=1)  # (B, T, H), reading order
                if direction:
                    stacked = stacked.gather(1, order.unsqueeze(-1).expand_as(stacked))  # back to input order
                values[name] = stacked * real
            traces.append(Trace(layer, direction, values, hs))
            outputs.append(values["hidden"])
        layer_input = torch.cat(outputs, dim=-1)  # (B, T, D*H)
    return traces, layer_input


def gradient_flow(core: RecurrentCore, x: Tensor, loss_of_last, state: State | None = None) -> Tensor:
    """The norm of d loss / d h_t for every step t of the top layer's left-to-right direction, where
    loss = loss_of_last(top-layer outputs at the last step, (B, D*H)), a scalar: (T,). x (B, T, I),
    every sequence T long; the norm is over the batch and units together."""
    with torch.enable_grad():
        x = x.detach().requires_grad_()  # a graph through the steps even when the weights are frozen
        traces, outputs = replay(core, x, None, state)
        top = traces[(core.num_layers - 1) * core.directions]
        loss = loss_of_last(outputs[:, -1])
        grads = torch.autograd.grad(loss, top.steps, allow_unused=True)
    return torch.stack([g.norm() if g is not None else x.new_zeros(()) for g in grads]).detach()
