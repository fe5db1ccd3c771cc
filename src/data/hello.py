"""The course's first character lesson: map `hello` to `ohlol`, letter by letter (lesson 3)."""

import torch

from src.data.batching import PaddedSequences
from src.data.specs import LabellingSpec
from src.data.splits import SplitsDataModule
from src.data.vocab import PAD, Vocab
from src.errors import UserError


class HelloDataModule(SplitsDataModule):
    """One pair of equal-length strings; every split is that pair (the lesson has nothing else)."""

    def __init__(self, source: str, target: str, passes: int):
        super().__init__(batch_size=1, passes=passes)
        if not source or len(source) != len(target):
            raise UserError(f"task.data.source={source!r} and target={target!r} must be non-empty and of equal length")
        self.source, self.target = source, target
        symbols = sorted(set(source) | set(target))  # e h l o
        self.spec = LabellingSpec(inputs=Vocab(symbols, specials=[PAD]), outputs=Vocab(symbols), codec="symbols")

    def setup(self, stage: str | None = None) -> None:
        tokens = torch.tensor([self.spec.inputs.encode(self.source)])  # (1, T)
        targets = torch.tensor([self.spec.outputs.encode(self.target)])  # (1, T) class ids
        dataset = PaddedSequences(tokens, torch.tensor([len(self.source)]), targets)
        self.datasets = {"train": dataset, "val": dataset, "test": dataset}
