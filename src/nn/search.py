"""Decoding a Seq2SeqNet: greedy (the most likely symbol at each step) and beam search (the
`beam_size` most likely prefixes at each step, batched over inputs and hypotheses).

Both return, per input, a `Hypothesis`: the output ids without the end symbol, and the attention
weights (one row per output step, end included, over the input's real steps) when the model attends.
"""

from typing import NamedTuple

import torch
from torch import Tensor

from src.nn.seq2seq import Seq2SeqNet


class Symbols(NamedTuple):
    """The target vocabulary's special ids that decoding needs: it starts with `start`, stops at
    `end`, and never writes any of `never` (padding, the start symbol)."""

    start: int
    end: int
    never: tuple[int, ...]


class Hypothesis(NamedTuple):
    ids: list[int]
    weights: Tensor | None  # (len(ids) + 1, source length), or None without attention
    score: float  # greedy: sum of log-probabilities (end included); beam: that / length ** length_penalty


def _log_probs(logits: Tensor, symbols: Symbols) -> Tensor:
    """(B, 1, V) logits of one step -> (B, V) log-probabilities over the symbols an output may
    hold: `symbols.never` are never produced."""
    never = torch.tensor(symbols.never, device=logits.device)
    return logits[:, 0].index_fill(1, never, float("-inf")).log_softmax(-1)


def _crop(weights: Tensor | None, steps: int, length: int) -> Tensor | None:
    return None if weights is None else weights[:steps, :length].cpu()


@torch.no_grad()
def greedy(net: Seq2SeqNet, src: Tensor, src_lengths: Tensor, max_length: int, symbols: Symbols) -> list[Hypothesis]:
    start_id, end_id = symbols.start, symbols.end
    memory, state = net.encode(src, src_lengths)
    batch = src.shape[0]
    prev = torch.full((batch, 1), start_id, dtype=torch.long, device=src.device)
    tokens, attention, logp = [], [], torch.zeros(batch, device=src.device)
    done = torch.zeros(batch, dtype=torch.bool, device=src.device)
    for _ in range(max_length):
        logits, state, weights = net.decode(prev, state, memory)
        step_logp, prev = _log_probs(logits, symbols).max(-1, keepdim=True)  # (B, 1) each
        logp += step_logp.squeeze(1).masked_fill(done, 0.0)
        tokens.append(prev)
        if weights is not None:
            attention.append(weights)
        done |= prev.squeeze(1) == end_id
        if bool(done.all()):
            break
    rows = torch.cat(tokens, dim=1).tolist()  # (B, T)
    weights = torch.cat(attention, dim=1) if attention else None  # (B, T, S)
    out = []
    for i, (row, length, score) in enumerate(zip(rows, src_lengths.tolist(), logp.tolist(), strict=True)):
        ids = row[: row.index(end_id)] if end_id in row else row
        out.append(Hypothesis(ids, _crop(None if weights is None else weights[i], len(ids) + 1, length), score))
    return out


@torch.no_grad()
def beam_search(
    net: Seq2SeqNet,
    src: Tensor,
    src_lengths: Tensor,
    max_length: int,
    symbols: Symbols,
    beam_size: int = 4,
    length_penalty: float = 1.0,
) -> list[Hypothesis]:
    """Keeps `beam_size` live prefixes per input; a prefix that ends is set aside with its score
    (total log-probability / length ** length_penalty) and an input is done when `beam_size` have
    ended. At max_length the live prefixes count as ended. The best-scoring one is returned."""
    if beam_size == 1:
        return greedy(net, src, src_lengths, max_length, symbols)
    start_id, end_id = symbols.start, symbols.end
    batch, k, device = src.shape[0], beam_size, src.device
    memory, state = net.encode(src, src_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # each input once per hypothesis
    memory, state = memory.select(rows), net.decoder.select_state(state, rows)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # the first step expands one hypothesis, not k copies of it
    prev = torch.full((batch * k, 1), start_id, dtype=torch.long, device=device)
    history = torch.zeros(batch * k, 0, dtype=torch.long, device=device)
    attention = None  # (B*k, t, S)
    ended: list[list[Hypothesis]] = [[] for _ in range(batch)]
    lengths = src_lengths.tolist()
    positions = torch.arange(2 * k, device=device)
    for t in range(max_length):
        logits, state, weights = net.decode(prev, state, memory)
        vocab = logits.shape[-1]
        total = scores.unsqueeze(2) + _log_probs(logits, symbols).view(batch, k, vocab)  # (B, k, V)
        top, flat = total.view(batch, -1).topk(2 * k, dim=1)  # (B, 2k): at most k of them end
        beam, token = flat // vocab, flat % vocab
        ends = token == end_id
        step_weights = None if weights is None else weights[:, 0]  # (B*k, S)
        source_rows = torch.arange(batch, device=device).unsqueeze(1) * k + beam  # (B, 2k) rows of B*k
        # set aside the ended prefixes among the best k candidates
        for b, pos in (ends & (positions < k) & top.isfinite()).nonzero().tolist():
            if len(ended[b]) < k:
                row = int(source_rows[b, pos])
                w = None if attention is None else torch.cat([attention[row], step_weights[row, None]], 0)
                ids = history[row].tolist()
                score = float(top[b, pos]) / (t + 1) ** length_penalty
                ended[b].append(Hypothesis(ids, _crop(w, t + 1, lengths[b]), score))
        if all(len(e) >= k for e in ended):
            break
        # the best k candidates that go on
        keep = torch.argsort(ends.long() * 2 * k + positions, dim=1)[:, :k]  # (B, k)
        scores, token = top.gather(1, keep), token.gather(1, keep)
        chosen = source_rows.gather(1, keep).flatten()  # (B*k,)
        state = net.decoder.select_state(state, chosen)
        history = torch.cat([history[chosen], token.view(-1, 1)], dim=1)
        if step_weights is not None:
            step = step_weights[chosen].unsqueeze(1)
            attention = step if attention is None else torch.cat([attention[chosen], step], dim=1)
        prev = token.view(-1, 1)
    else:  # max_length reached: the live prefixes count as ended
        for b in range(batch):
            for j in range(k):
                row, score = b * k + j, float(scores[b, j])
                if score > float("-inf"):
                    w = None if attention is None else attention[row]
                    ids = history[row].tolist()
                    ended[b].append(Hypothesis(ids, _crop(w, len(ids), lengths[b]), score / len(ids) ** length_penalty))
    return [max(e, key=lambda h: h.score) for e in ended]
