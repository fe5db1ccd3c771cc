"""The recurrent core: one of RNN, LSTM, GRU, minGRU, minLSTM (src/nn/minimal.py) over padded batches,
and `make_core`, the one place a network's core is built from the model config: a RecurrentCore, or
for `cell=transformer` a TransformerCore (src/nn/transformer.py) with the same interface.

This is the only place that knows an LSTM's state is an (h, c) pair; callers get outputs and an
opaque state, and ask `last_layer_state` for the (B, directions * H) summary of a sequence.
"""

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.nn.flops import product
from src.nn.minimal import MinimalRNN
from src.nn.transformer import TransformerCore, TransformerState

CELLS = {
    "rnn": nn.RNN,
    "lstm": nn.LSTM,
    "gru": nn.GRU,
    "mingru": partial(MinimalRNN, "mingru"),
    "minlstm": partial(MinimalRNN, "minlstm"),
}

# every model= choice: the recurrent cells, then the one core that is not recurrent
CORES = (*CELLS, TransformerCore.cell)

# (L * D, B, H), LSTM's (h, c) pair of those, or a transformer's cache and memory (src/nn/transformer.py)
State = Tensor | tuple[Tensor, Tensor] | TransformerState


def core_class(cell: str) -> type:
    """The class of the core that `cell` names: TransformerCore for transformer, else RecurrentCore."""
    return TransformerCore if cell == TransformerCore.cell else RecurrentCore


def make_core(input_size: int, cell: str, **options) -> "RecurrentCore | TransformerCore":
    """The core a network reads its inputs with, from the model config (src/run/budget.py `core_args`):
    both kinds take input_size, hidden_size, num_layers, dropout, bidirectional and weight_drop; a
    transformer also its heads, positions and max_positions."""
    if cell not in CORES:
        raise ValueError(f"cell={cell} is unknown; use one of {', '.join(CORES)}")
    if cell == TransformerCore.cell:
        return TransformerCore(input_size, **options)
    return RecurrentCore(cell, input_size, **options)


class RecurrentCore(nn.Module):
    """`cell` in rnn|lstm|gru|mingru|minlstm; batch-first; `dropout` acts between stacked layers.

    weight_drop: in training, this share of the hidden-to-hidden weights is zeroed (DropConnect,
    one mask per batch shared by every time step: AWD-LSTM's weight drop, Merity et al. 2018), the
    rest scaled up to keep their sum; the cell's own fused kernels still run."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        weight_drop: float = 0.0,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell} is unknown; use one of {', '.join(CELLS)}")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"hidden_size={hidden_size}, num_layers={num_layers}; both must be at least 1")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout}; use a share in [0, 1)")
        if not 0 <= weight_drop < 1:
            raise ValueError(f"weight_drop={weight_drop}; use a share in [0, 1)")
        if weight_drop and cell.startswith("min"):
            raise ValueError(f"weight_drop={weight_drop}: {cell} has no hidden-to-hidden weights to drop; use 0")
        self.weight_drop, self.dropout = weight_drop, dropout
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # torch warns about dropout on a single layer
        )
        self.output_size = hidden_size * self.directions

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, I), lengths (B,) on the CPU -> outputs (B, T, D*H) zero past each length, state."""
        if lengths is None:
            return self._run(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self._run(packed, state)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])  # (B, T, D*H)
        return outputs, state

    def _run(self, x, state: State | None):
        if x.data.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # CPU mixed precision (trainer.precision=bf16-mixed or 16-mixed): oneDNN's reduced-precision
            # LSTM fails on CPUs without bf16 instructions ("could not create a primitive descriptor"),
            # so the recurrence runs in fp32 there, as autocast already runs a packed one
            with torch.autocast("cpu", enabled=False):
                full = (
                    None
                    if state is None
                    else tuple(s.float() for s in state)
                    if isinstance(state, tuple)
                    else state.float()
                )
                return self._run_cell(x.float(), full)
        return self._run_cell(x, state)

    def _run_cell(self, x, state: State | None):
        if not (self.training and self.weight_drop):
            return self.rnn(x, state)
        weights = {
            name: F.dropout(w, self.weight_drop) if name.startswith("weight_hh") else w
            for name, w in self.rnn.named_parameters()
        }
        return functional_call(self.rnn, weights, (x, state))

    def last_layer_state(self, state: State) -> Tensor:
        """The top layer's final hidden state, directions concatenated: (B, D*H)."""
        h = state[0] if isinstance(state, tuple) else state  # LSTM: h of (h, c)
        batch = h.shape[1]
        h = h.view(self.num_layers, self.directions, batch, self.hidden_size)[-1]  # (D, B, H)
        return h.transpose(0, 1).reshape(batch, self.output_size)  # (B, D*H)

    def bridge(self, state: State) -> State:
        """This (maybe bidirectional) encoder's final state as the initial state of a one-direction
        decoder of size D*H and as many layers: each layer's directions concatenated."""

        def join(h: Tensor) -> Tensor:  # (L*D, B, H) -> (L, B, D*H)
            batch = h.shape[1]
            h = h.view(self.num_layers, self.directions, batch, self.hidden_size).permute(0, 2, 1, 3)  # (L, B, D, H)
            return h.reshape(self.num_layers, batch, self.output_size)

        return tuple(join(part) for part in state) if isinstance(state, tuple) else join(state)

    def flops(self, lengths: Tensor, memory_lengths: Tensor | None = None) -> int:
        """Operations over sequences of `lengths` (B,) through every layer and direction (src/nn/flops.py):
        each weight matrix of the cell, (gates x H, inputs), is one product a real step: [input; state]
        to every gate's pre-activation, or the input alone for the minimal cells, which have no
        hidden-to-hidden weights. (`memory_lengths`: a Transformer decoder's; a recurrent one has none.)"""
        steps = int(lengths.sum())
        weights = [w for name, w in self.rnn.named_parameters() if name.startswith("weight")]
        return sum(product(w.shape[1], w.shape[0], steps) for w in weights)  # w: (G*H, I) or (G*H, H)

    def make_decoder(self, input_size: int) -> "RecurrentCore":
        """A one-direction core of this cell, as wide as this one's outputs (D*H) and as many layers: it
        starts from `bridge(state)`."""
        return RecurrentCore(
            self.cell, input_size, self.output_size, self.num_layers, self.dropout, False, self.weight_drop
        )

    @staticmethod
    def hidden_grain(options: dict) -> int:
        """Valid hidden sizes are the multiples of this: every size."""
        return 1

    @staticmethod
    def select_state(state: State, index: Tensor) -> State:
        """Rows `index` of the batch of a state (L, B, H), or of both parts of LSTM's (h, c)."""
        if isinstance(state, tuple):
            return tuple(part.index_select(1, index) for part in state)
        return state.index_select(1, index)
