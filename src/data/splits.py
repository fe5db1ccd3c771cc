"""The train/val/test loaders every DataModule here shares."""

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from src.data.batching import EpochShuffle, PassesBatchSampler, batch_as_is
from src.data.specs import Spec
from src.errors import UserError


class SplitsDataModule(L.LightningDataModule):
    """Subclasses build `self.spec` and fill `self.datasets` in setup(): "train", "val", and one
    "test<suffix>" for each suffix of `spec.test_sets` ("test", or "test" and "test_long").

    `passes` > 1 makes an epoch several freshly shuffled passes over a tiny training set (see
    PassesBatchSampler); evaluation batches hold `eval_batch_size` items (default: batch_size).
    """

    spec: Spec

    def __init__(self, batch_size: int, eval_batch_size: int | None = None, passes: int = 1, num_workers: int = 0):
        super().__init__()
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("passes", passes)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"task.data.{key}={value}; give a whole number of at least 1")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.passes, self.num_workers = passes, num_workers
        self.datasets: dict[str, Dataset] = {}

    def _loader(self, split: str, batch_size: int, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.datasets[split], batch_size=batch_size, shuffle=shuffle, collate_fn=batch_as_is,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        # Each epoch's order comes from (the run's seed, the epoch), not from the global random state:
        # see EpochShuffle. The loader's own generator keeps its start from drawing on that state too.
        seed, n = torch.initial_seed(), len(self.datasets["train"])
        if self.passes == 1:
            sampler = EpochShuffle(n, seed)
            return DataLoader(
                self.datasets["train"],
                batch_size=self.batch_size,
                sampler=sampler,
                collate_fn=batch_as_is,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                generator=torch.Generator(),
            )
        batches = PassesBatchSampler(n, self.batch_size, self.passes, seed=seed)
        return DataLoader(
            self.datasets["train"], batch_sampler=batches, collate_fn=batch_as_is, generator=torch.Generator()
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self._loader(f"test{suffix}", self.eval_batch_size) for suffix in self.spec.test_sets]
        return loaders[0] if len(loaders) == 1 else loaders
