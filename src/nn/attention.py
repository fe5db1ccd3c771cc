"""Attention over encoder outputs: score each source step against a decoder state, softmax over
the real (unpadded) steps, and take the weighted sum of the encoder outputs as the context.

The three scores the course names:
- `dot` (Luong):       score(h, s) = s . h                 (decoder and encoder sizes equal)
- `general` (Luong):   score(h, s) = s . (W h)             (a learned bilinear form)
- `additive` (Bahdanau, "concat"): score(h, s) = v . tanh(W [s; h]) = v . tanh(W_s s + W_h h)

The part that depends on the keys only (W h, W_h h) is computed once per source by `project`,
not once per decoder step; `forward` then scores any number of decoder steps at once.
"""

import torch
from torch import Tensor, nn

from src.nn.flops import linear, product

RULES = ("dot", "general", "additive")


class Attention(nn.Module):
    """query (B, T, Dq), or (B, Dq) for one step, against keys (B, S, Dk) with mask (B, S), True
    where a step is real -> context (B, T, Dk) and weights (B, T, S) that sum to 1 over the real
    steps (without the T axis for a (B, Dq) query)."""

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
            self.W_query = nn.Linear(query_size, hidden_size)
            self.W_key = nn.Linear(key_size, hidden_size, bias=False)
            self.v = nn.Linear(hidden_size, 1, bias=False)
        # the numbers per (query, key) pair of the largest intermediate: additive's (B, T, S, A) sum
        self.width = hidden_size if rule == "additive" else 1

    def project(self, keys: Tensor) -> Tensor:
        """The keys as the scores need them, once per source: (B, S, Dq) or (B, S, hidden)."""
        if self.rule == "dot":
            return keys
        return self.W(keys) if self.rule == "general" else self.W_key(keys)

    def scores(self, query: Tensor, projected: Tensor) -> Tensor:
        """(B, T, S) unnormalised scores of query (B, T, Dq) against projected keys."""
        if self.rule in ("dot", "general"):
            return torch.bmm(query, projected.transpose(1, 2))  # (B, T, Dq) @ (B, Dq, S)
        summed = self.W_query(query).unsqueeze(2) + projected.unsqueeze(1)  # (B, T, 1, A) + (B, 1, S, A)
        return self.v(torch.tanh(summed)).squeeze(3)  # (B, T, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor, projected: Tensor | None = None):
        one_step = query.dim() == 2
        query = query.unsqueeze(1) if one_step else query  # (B, T, Dq)
        assert keys.dim() == 3 and mask.shape == keys.shape[:2] and query.shape[0] == keys.shape[0], (
            query.shape,
            keys.shape,
            mask.shape,
        )
        projected = self.project(keys) if projected is None else projected
        scores = self.scores(query, projected).masked_fill(~mask.unsqueeze(1), float("-inf"))  # padding: no weight
        weights = scores.softmax(dim=-1)  # (B, T, S)
        context = torch.bmm(weights, keys)  # (B, T, S) @ (B, S, Dk) -> (B, T, Dk)
        return (context.squeeze(1), weights.squeeze(1)) if one_step else (context, weights)

    def flops(self, query_size: int, key_size: int, sources: int, targets: int, pairs: int) -> int:
        """Operations over `sources` key steps, `targets` query steps and the `pairs` (query, key) of the
        same item (src/nn/flops.py): the key projection once per source, the scores and the context over
        every pair."""
        total = product(key_size, 1, pairs)  # context: the weighted sum of the keys
        if self.rule == "additive":
            return total + linear(self.W_key, sources) + linear(self.W_query, targets) + linear(self.v, pairs)
        total += product(query_size, 1, pairs)  # dot, general: a dot product of the query with each (projected) key
        return total + (linear(self.W, sources) if self.rule == "general" else 0)
