"""Sequence -> one label: embedding, recurrent core, final state, linear."""

from torch import Tensor, nn

from src.nn.recurrent import RecurrentCore


class SequenceClassifierNet(nn.Module):
    """ids (B, T) and lengths (B,) -> logits (B, num_classes)."""

    def __init__(self, vocab_size: int, num_classes: int, embedding_dim: int, dropout: float, core: dict):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.core = RecurrentCore(input_size=embedding_dim, **core)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.core.output_size, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embed(tokens))  # (B, T, E)
        _, state = self.core(x, lengths)
        summary = self.core.last_layer_state(state)  # (B, D*H): the last real step of each name
        return self.head(self.dropout(summary))  # (B, C)
