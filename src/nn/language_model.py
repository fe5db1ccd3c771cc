"""Next-symbol prediction: embedding, left-to-right recurrent core, output tied to the embedding."""

from torch import Tensor, nn

from src.data.batching import Batch
from src.nn.flops import linear
from src.nn.gates import Reading
from src.nn.recurrent import State, make_core


class CharLanguageModelNet(nn.Module):
    """ids (B, T) -> logits (B, T, V) for the next symbol, and the recurrent state (for sampling).

    tie_weights shares the output layer's weights with the input embedding (Press & Wolf, 2017):
    fewer parameters to overfit 1200 names with; a projection maps the state to the embedding size.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, dropout: float, core: dict, tie_weights: bool = True):
        super().__init__()
        if core.get("bidirectional"):
            raise ValueError("bidirectional=True: a language model reads left to right; use a one-way core")
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.core = make_core(input_size=embedding_dim, **core)
        self.dropout = nn.Dropout(dropout)
        out_size = self.core.output_size
        self.proj = nn.Linear(out_size, embedding_dim) if tie_weights and out_size != embedding_dim else nn.Identity()
        self.head = nn.Linear(embedding_dim if tie_weights else out_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embed.weight  # (V, E) both ways

    def forward(self, tokens: Tensor, lengths: Tensor | None = None, state: State | None = None):
        x = self.dropout(self.embed(tokens))  # (B, T, E)
        outputs, state = self.core(x, lengths, state)  # (B, T, H)
        return self.head(self.proj(self.dropout(outputs))), state  # (B, T, V)

    def readings(self, batch: Batch) -> list[Reading]:
        """The core, what it reads of `batch` (on this network's device) and its next-symbol head, in
        eval mode: no dropout."""

        def head(outputs: Tensor) -> Tensor:  # (B, H) -> (B, V)
            return self.head(self.proj(outputs))

        return [Reading("core", self.core, self.embed(batch.tokens), batch.lengths.cpu(), head=head)]

    def forward_flops(self, batch: Batch) -> int:
        """Operations of the forward pass over the real steps of `batch` (src/nn/flops.py)."""
        steps = int(batch.lengths.sum())
        return self.core.flops(batch.lengths) + linear(self.proj, steps) + linear(self.head, steps)
