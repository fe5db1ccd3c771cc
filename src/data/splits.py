"""The train/val/test loaders every DataModule here shares, and k-fold cross-validation splits."""

import random

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from src.data.batching import (
    EpochShuffle,
    EvalBatches,
    LengthBatchSampler,
    PassesBatchSampler,
    batch_as_is,
    to_device,
)
from src.data.specs import Spec
from src.errors import UserError


def check_folds(folds, fold) -> None:
    """`task.data.folds` (None: one fixed split; else K >= 2) and `task.data.fold` (0 <= fold < K)."""
    if folds is None:
        return
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise UserError(f"task.data.folds={folds}; give a whole number of at least 2 (or null: one fixed split)")
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < folds:
        raise UserError(f"task.data.fold={fold} with task.data.folds={folds}; give a fold from 0 to {folds - 1}")


def k_fold(units: list, folds: int, fold: int, val: int, seed: int) -> tuple[list, list, list]:
    """Cross-validation: `units` shuffled with `seed` and cut into `folds` parts of near-equal size;
    the test split is part `fold`, validation the first `val` units of the next part, training the rest.
    Over fold = 0 .. folds - 1 every unit is tested exactly once."""
    check_folds(folds, fold)
    order = list(units)
    random.Random(seed).shuffle(order)
    size, extra = divmod(len(order), folds)
    bounds = [k * size + min(k, extra) for k in range(folds + 1)]
    parts = [order[bounds[k] : bounds[k + 1]] for k in range(folds)]
    following = (fold + 1) % folds
    if not 0 < val < len(parts[following]):
        raise UserError(
            f"{len(order)} items in {folds} folds leave {len(parts[following])} per fold: too few for {val} "
            "validation items and a training set; use fewer folds or a smaller validation share"
        )
    train = [u for k, part in enumerate(parts) if k not in (fold, following) for u in part]
    return train + parts[following][val:], parts[following][:val], parts[fold]


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

    def __init__(
        self,
        batch_size: int,
        eval_batch_size: int | None = None,
        passes: int = 1,
        num_workers: int = 0,
        bucketing: bool = False,
    ):
        super().__init__()
        if bucketing and passes > 1:
            raise UserError(f"task.data.bucketing=true with task.data.passes={passes}; use one of them")
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("passes", passes)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"task.data.{key}={value}; give a whole number of at least 1")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.passes, self.num_workers, self.bucketing = passes, num_workers, bucketing
        self.datasets: dict[str, Dataset] = {}

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Lightning's hook: the batch on the module's device, its lengths kept on the CPU (to_device)."""
        return to_device(batch, device)

    def _loader(self, split: str, batch_size: int) -> DataLoader:
        """An evaluation loader: this process's share of the items (all of them without DDP), sorted
        by length, longest first, cut into batches (EvalBatches: under DDP no item is repeated)."""
        data = self.datasets[split]
        return DataLoader(
            data,
            batch_size=None,
            sampler=EvalBatches(data, batch_size, lengths=data.length_key),
            collate_fn=batch_as_is,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        # Each epoch's order comes from (the run's seed, the epoch), not from the global random state:
        # see EpochShuffle. The loader's own generator keeps its start from drawing on that state too.
        seed, n = torch.initial_seed(), len(self.datasets["train"])
        if self.bucketing:  # shuffled, then sorted by length within chunks of 100 batches, batches shuffled
            data = self.datasets["train"]
            batches = LengthBatchSampler(EpochShuffle(n, seed), self.batch_size, lengths=data.length_key)
            return DataLoader(
                data,
                batch_sampler=batches,
                collate_fn=batch_as_is,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                generator=torch.Generator(),
            )
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
