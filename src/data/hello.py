"""The course's first character lesson: map `hello` to `ohlol`, letter by letter (lesson 3)."""

import lightning as L
import torch
from torch.utils.data import DataLoader

from src.data.batching import PaddedSequences, PassesBatchSampler, batch_as_is
from src.errors import UserError


class HelloDataModule(L.LightningDataModule):
    """One pair of equal-length strings; every split is that pair (the lesson has nothing else)."""

    def __init__(self, source: str = "hello", target: str = "ohlol", passes: int = 1):
        super().__init__()
        self.passes = passes
        if not source or len(source) != len(target):
            raise UserError(f"task.data.source={source!r} and target={target!r} must be non-empty and of equal length")
        self.source, self.target = source, target
        self.symbols = sorted(set(source) | set(target))  # e h l o
        self.spec = {"inputs": self.symbols, "outputs": self.symbols}
        self.dataset: PaddedSequences | None = None

    def setup(self, stage: str | None = None) -> None:
        ids = {s: i for i, s in enumerate(self.symbols)}
        tokens = torch.tensor([[ids[c] + 1 for c in self.source]])  # (1, T); 0 is padding
        targets = torch.tensor([[ids[c] for c in self.target]])  # (1, T) class ids
        self.dataset = PaddedSequences(tokens, torch.tensor([len(self.source)]), targets)

    def render(self, tokens: torch.Tensor, predicted: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        guess = "".join(self.symbols[i] for i in predicted[0, : int(lengths[0])].tolist())
        return [f"{self.source} -> {guess} (target {self.target})"]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_sampler=PassesBatchSampler(1, 1, self.passes), collate_fn=batch_as_is)

    def _loader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=1, collate_fn=batch_as_is)

    val_dataloader = test_dataloader = _loader
