"""The train/val/test loaders every DataModule here shares."""

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from src.data.batching import EpochShuffle, LengthBatchSampler, PassesBatchSampler, batch_as_is
from src.data.specs import Spec
from src.errors import UserError


class SplitsDataModule(L.LightningDataModule):
    """Subclasses build `self.spec` and fill `self.datasets` in setup(): "train", "val", and one
    "test<suffix>" for each suffix of `spec.test_sets` ("test", or "test" and "test_long").

    `passes` > 1 makes an epoch several freshly shuffled passes over a tiny training set (see
    PassesBatchSampler); evaluation batches hold `eval_batch_size` items (default: batch_size).
    `bucketing` makes training batches of items of similar length (LengthBatchSampler), for data
    sets whose lengths vary. Evaluation batches are always cut from the items sorted by length,
    longest first: no metric depends on the order, and the test predictions are written in item order.
    """

    spec: Spec

    def __init__(self, batch_size: int, eval_batch_size: int | None = None, passes: int = 1, num_workers: int = 0,
                 bucketing: bool = False):  # fmt: skip
        super().__init__()
        if bucketing and passes > 1:
            raise UserError(f"task.data.bucketing=true with task.data.passes={passes}; use one of them")
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("passes", passes)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"task.data.{key}={value}; give a whole number of at least 1")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.passes, self.num_workers, self.bucketing = passes, num_workers, bucketing
        self.datasets: dict[str, Dataset] = {}

    def _loader(self, split: str, batch_size: int) -> DataLoader:
        """An evaluation loader: the items sorted by length, longest first, cut into batches."""
        data = self.datasets[split]
        batches = LengthBatchSampler(
            SequentialSampler(data), batch_size, lengths=data.length_key, shuffle=False, chunk_batches=None
        )
        return DataLoader(
            data, batch_sampler=batches, collate_fn=batch_as_is, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        # Each epoch's order comes from (the run's seed, the epoch), not from the global random state:
        # see EpochShuffle. The loader's own generator keeps its start from drawing on that state too.
        seed, n = torch.initial_seed(), len(self.datasets["train"])
        if self.bucketing:  # shuffled, then sorted by length within chunks of 100 batches, batches shuffled
            data = self.datasets["train"]
            batches = LengthBatchSampler(EpochShuffle(n, seed), self.batch_size, lengths=data.length_key)
            return DataLoader(
                data, batch_sampler=batches, collate_fn=batch_as_is, num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0, generator=torch.Generator(),
            )  # fmt: skip
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
