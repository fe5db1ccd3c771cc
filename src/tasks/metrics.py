"""The metrics torchmetrics does not have in the form these tasks need; each is a torchmetrics
`Metric` (states summed across batches and processes, read once an epoch)."""

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.wrappers.abstract import WrapperMetric

from src.analysis import stats
from src.data.batching import IGNORE


class CorpusBLEU(Metric):
    """Corpus BLEU (0-1) of space-separated token strings against every reference of each item,
    computed as src.analysis.stats.corpus_bleu computes it (sacrebleu): its sufficient statistics are summed
    over batches and processes, so test/bleu equals compare's BLEU of the test rows to the last digit.
    (torchmetrics' BLEUScore picks the brevity penalty's reference length differently when an item
    has several references.)"""

    higher_is_better = True
    full_state_update = False

    def __init__(self, n_gram: int = 4):
        super().__init__()
        self.n_gram = n_gram
        self.add_state("totals", torch.zeros(2 + 2 * n_gram, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: list[str], references: list[list[str]]) -> None:
        if hypotheses:
            found = stats.bleu_statistics(list(hypotheses), [list(r) for r in references], self.n_gram).sum(0)
            self.totals += torch.as_tensor(found, device=self.totals.device)

    def compute(self) -> Tensor:
        if not self.totals[0]:
            return torch.tensor(0.0, dtype=torch.float64)
        return torch.tensor(stats.bleu_of_statistics(self.totals.tolist(), self.n_gram), dtype=torch.float64)


class TokenNLL(Metric):
    """Mean negative log-likelihood per real target symbol (IGNORE left out), in nats, or in bits
    (`unit="bits"`), or as perplexity (`unit="ppl"`: e to the nats)."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, unit: str = "nats"):
        super().__init__()
        if unit not in ("nats", "bits", "ppl"):
            raise ValueError(f"unit={unit!r}; use nats, bits or ppl")
        self.unit = unit
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor, targets: Tensor) -> None:  # (B, T, V), (B, T)
        nll = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="sum"
        )
        self.total += nll.double()
        self.count += (targets != IGNORE).sum()

    def compute(self) -> Tensor:
        nats = (self.total / self.count.clamp(min=1)).float()
        return {"nats": nats, "bits": nats / torch.log(torch.tensor(2.0)), "ppl": nats.exp()}[self.unit]


class Share(Metric):
    """A share of right answers: subclasses say, per batch, how many were right out of how many."""

    higher_is_better = True
    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("right", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def count(self, preds, target) -> tuple[Tensor | int, Tensor | int]:
        raise NotImplementedError

    def update(self, preds, target) -> None:
        right, total = self.count(preds, target)
        self.right += right
        self.total += total

    def compute(self) -> Tensor:
        return self.right / self.total.clamp(min=1)


class StepAccuracy(Share):
    """Share of real steps (IGNORE left out) whose most likely label is right."""

    def count(self, logits: Tensor, targets: Tensor):  # (B, T, C), (B, T)
        real = targets != IGNORE
        return ((logits.argmax(-1) == targets) & real).sum(), real.sum()


class SequenceAccuracy(Share):
    """Share of sequences with every real step right."""

    def count(self, logits: Tensor, targets: Tensor):  # (B, T, C), (B, T)
        real = targets != IGNORE
        return ((logits.argmax(-1) == targets) | ~real).all(dim=1).sum(), targets.shape[0]


class ExactMatch(Share):
    """Share of outputs (strings) equal to one of their references."""

    def count(self, outputs: list[str], references: list[list[str]]):
        return sum(o in refs for o, refs in zip(outputs, references, strict=True)), len(outputs)


class SymbolAccuracy(Share):
    """Share of the reference's symbols that the output has at the same position, over every symbol
    (space-separated): Delétang et al.'s (2023) accuracy, which reads a model told the output's
    length. A symbol the output lacks is wrong; symbols past the reference's end are not scored
    (ExactMatch scores the length). With several references, the one the output matches best."""

    def count(self, outputs: list[str], references: list[list[str]]):
        right = total = 0
        for output, refs in zip(outputs, references, strict=True):
            r, t = symbols_right(output, refs)
            right, total = right + r, total + t
        return right, total


def symbols_right(output: str, references: list[str]) -> tuple[int, int]:
    """(symbols of a reference that `output` has at the same position, symbols of that reference),
    for the reference with the largest share right (the first of a tie)."""
    said = output.split()
    counts = [(sum(a == b for a, b in zip(said, ref, strict=False)), len(ref)) for ref in map(str.split, references)]
    return max(counts, key=lambda c: c[0] / max(c[1], 1))


class Picked(WrapperMetric):
    """`metric` fed one entry of a dict of outputs: seq2seq scores the beam and the greedy outputs
    of one decoding pass under two names (test/bleu and test/bleu_greedy)."""

    full_state_update = False

    def __init__(self, metric: Metric, key: str):
        super().__init__()
        self.metric, self.key = metric, key

    @property
    def higher_is_better(self) -> bool | None:
        return self.metric.higher_is_better

    def update(self, outputs: dict, references) -> None:
        self.metric.update(outputs[self.key], references)

    def compute(self):
        return self.metric.compute()

    def reset(self) -> None:
        super().reset()
        self.metric.reset()
