"""Attention over encoder outputs: score each source step against the decoder state, softmax over
the real (unpadded) steps, and take the weighted sum of the encoder outputs as the context.

The three scores the course names:
- `dot` (Luong):       score(h, s) = s . h                 (decoder and encoder sizes equal)
- `general` (Luong):   score(h, s) = s . (W h)             (a learned bilinear form)
- `additive` (Bahdanau, "concat"): score(h, s) = v . tanh(W [s; h])
"""

import torch
from torch import Tensor, nn

RULES = ("dot", "general", "additive")


class Attention(nn.Module):
    """query (B, Dq) and keys (B, S, Dk) with mask (B, S), True where a step is real
    -> context (B, Dk) and weights (B, S) that sum to 1 over the real steps."""

    def __init__(self, rule: str, query_size: int, key_size: int, hidden_size: int | None = None):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"attention={rule} is unknown; use one of none, {', '.join(RULES)}")
        if rule == "dot" and query_size != key_size:
            raise ValueError(f"dot attention needs equal sizes (decoder {query_size}, encoder {key_size}); use general")
        self.rule = rule
        if rule == "general":
            self.W = nn.Linear(key_size, query_size, bias=False)
        elif rule == "additive":
            hidden_size = hidden_size or query_size
            self.W = nn.Linear(query_size + key_size, hidden_size)
            self.v = nn.Linear(hidden_size, 1, bias=False)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, S) unnormalised scores."""
        if self.rule == "dot":
            return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S, D) @ (B, D, 1) -> (B, S)
        if self.rule == "general":
            return torch.bmm(self.W(keys), query.unsqueeze(2)).squeeze(2)  # (B, S, Dq) @ (B, Dq, 1) -> (B, S)
        expanded = query.unsqueeze(1).expand(-1, keys.shape[1], -1)  # (B, S, Dq)
        return self.v(torch.tanh(self.W(torch.cat([expanded, keys], dim=-1)))).squeeze(2)  # (B, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        assert query.dim() == 2 and keys.dim() == 3 and mask.shape == keys.shape[:2], (query.shape, keys.shape)
        scores = self.scores(query, keys).masked_fill(~mask, float("-inf"))  # padding gets no weight
        weights = scores.softmax(dim=-1)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, 1, S) @ (B, S, Dk) -> (B, Dk)
        return context, weights
