"""Padded sequences built once as tensors, fetched a whole batch at a time.

The course fed one example at a time. Here every sequence is encoded and padded once at setup()
into an (N, T) tensor; a batch is one index operation, trimmed to its longest member, so the
DataLoader does no per-item Python work.
"""

from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import BatchSampler, Dataset, DistributedSampler, RandomSampler, Sampler

IGNORE = -100  # padding in per-step targets: cross_entropy's ignore_index


class Batch(NamedTuple):
    tokens: Tensor  # (B, T) padded ids
    lengths: Tensor  # (B,) true lengths, on the CPU as pack_padded_sequence wants them
    targets: Tensor  # (B,) one label per sequence, or (B, T) one per step
    index: Tensor | None = None  # (B,) positions in the dataset (test predictions are written in item order)

    def first(self) -> "Batch":
        """The first item as a batch of one, cut to its own length."""
        n = int(self.lengths[0])
        return Batch(self.tokens[:1, :n], self.lengths[:1], self.targets[:1])


def pad(sequences: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad lists of ids into one tensor: (N, T_max) ids and (N,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), max((len(s) for s in sequences), default=0)), pad_id, dtype=torch.long)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return tokens, lengths


class PaddedSequences(Dataset):
    """Sequences with their targets; `__getitems__` serves a whole batch (see batch_as_is)."""

    def __init__(self, tokens: Tensor, lengths: Tensor, targets: Tensor):
        assert tokens.shape[0] == lengths.shape[0] == targets.shape[0], "one length and target per sequence"
        self.tokens, self.lengths, self.targets = tokens, lengths, targets

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def length_key(self) -> Tensor:
        """(N,) what LengthBatchSampler groups items by: their lengths."""
        return self.lengths

    def __getitem__(self, index: int | list[int]) -> Batch:
        return self.__getitems__(index if isinstance(index, list) else [index])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        lengths = self.lengths[idx]
        longest = int(lengths.max())
        targets = self.targets[idx]
        if targets.dim() > 1:  # per-step targets are trimmed like the inputs
            targets = targets[:, :longest]
        return Batch(self.tokens[idx, :longest], lengths, targets, idx)


def batch_as_is(batch: Batch) -> Batch:
    """collate_fn for PaddedSequences: the dataset already returned the batch."""
    return batch


class PairBatch(NamedTuple):
    src: Tensor  # (B, S) source ids, end symbol included
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) start + target: what the decoder reads
    tgt_out: Tensor  # (B, T) target + end, IGNORE past it: what it must write
    index: Tensor  # (B,) positions in the dataset (to look up every reference of an item)

    def first(self) -> "PairBatch":
        """The first item as a batch of one, source and target cut to their own lengths."""
        s, t = int(self.src_lengths[0]), int((self.tgt_out[0] != IGNORE).sum())
        return PairBatch(
            self.src[:1, :s], self.src_lengths[:1], self.tgt_in[:1, :t], self.tgt_out[:1, :t], self.index[:1]
        )


class PairedSequences(Dataset):
    """Source and target id lists, padded once, served by batch: the source with `end` appended,
    the decoder's input with `start` prepended, its output with `end` appended."""

    def __init__(self, src: list[list[int]], tgt: list[list[int]], pad_id: int, start: int, end: int):
        self.src, self.src_lengths = pad([[*s, end] for s in src], pad_id)
        self.tgt_in, _ = pad([[start, *t] for t in tgt], pad_id)
        self.tgt_out, self.tgt_lengths = pad([[*t, end] for t in tgt], pad_id=IGNORE)

    def __len__(self) -> int:
        return len(self.src)

    @property
    def length_key(self) -> Tensor:
        """(N,) what LengthBatchSampler groups items by: target length, then source length (the
        decoder's steps cost more: each ends in the output layer over the whole target vocabulary)."""
        return self.tgt_lengths * (int(self.src_lengths.max()) + 1) + self.src_lengths

    def __getitem__(self, index: int | list[int]) -> PairBatch:
        return self.__getitems__(index if isinstance(index, list) else [index])

    def __getitems__(self, indices: list[int]) -> PairBatch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        s, t = int(self.src_lengths[idx].max()), int(self.tgt_lengths[idx].max())
        return PairBatch(self.src[idx, :s], self.src_lengths[idx], self.tgt_in[idx, :t], self.tgt_out[idx, :t], idx)


def to_device(batch: Batch | PairBatch, device: torch.device | str) -> Batch | PairBatch:
    """`batch` on `device`, its lengths left on the CPU: pack_padded_sequence (and cuDNN) wants them
    there, so moving them to a GPU would only cost a copy back for every recurrent call. Every place
    a loader's batch meets the model uses this: Lightning's loop (the DataModule's
    transfer_batch_to_device, src/data/splits.py), the InspectCells callback and src.inspect
    (src/tasks/inspection.py)."""
    return type(batch)(
        **{
            name: part.to(device) if isinstance(part, Tensor) and not name.endswith("lengths") else part
            for name, part in batch._asdict().items()
        }
    )


def epoch_generator(seed: int, epoch: int, *stream: int) -> torch.Generator:
    """A generator drawn from (seed, epoch) alone (`stream` tells apart two draws of one epoch)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, *stream]).generate_state(1)[0]))


class EpochShuffle(RandomSampler):
    """`passes` fresh orders of n items per epoch, drawn from (seed, epoch) alone: Lightning calls
    `set_epoch` as each epoch starts, so a resumed run shuffles its epochs as an uninterrupted run
    did, and shuffling takes nothing from the global random state that dropout draws from. Under
    DDP, Lightning sees a RandomSampler and puts its own shuffling DistributedSampler in its place."""

    def __init__(self, n: int, seed: int, passes: int = 1):
        super().__init__(range(n), num_samples=n * passes)
        self.n, self.seed, self.passes, self.epoch = n, seed, passes, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = epoch_generator(self.seed, self.epoch)
        for _ in range(self.passes):
            yield from torch.randperm(self.n, generator=generator).tolist()


class PassesBatchSampler(Sampler[list[int]]):
    """`passes` passes over n items per epoch, each freshly shuffled (by `sampler`, an EpochShuffle), in
    batches of `batch_size` (a pass's last batch may be short). A set smaller than one batch (the six
    course pairs, the one hello example) then makes an epoch of several steps, and Lightning's per-epoch
    work (epoch hooks, progress bar, loader start, about 2 ms here) is paid once per `passes` steps
    instead of once per step; the steps themselves are what one pass a epoch would give."""

    def __init__(self, n: int, batch_size: int, passes: int = 1, shuffle: bool = True, seed: int = 0):
        super().__init__()
        if passes < 1:
            raise ValueError(f"passes={passes}; use 1 or more passes over the data an epoch")
        self.n, self.batch_size, self.passes = n, batch_size, passes
        self.sampler = EpochShuffle(n, seed, passes) if shuffle else None  # Lightning sets its epoch

    def __iter__(self):
        indices = list(self.sampler) if self.sampler is not None else list(range(self.n)) * self.passes
        for first in range(0, len(indices), self.n):
            order = indices[first : first + self.n]
            for start in range(0, self.n, self.batch_size):
                yield order[start : start + self.batch_size]

    def __len__(self) -> int:
        return self.passes * -(-self.n // self.batch_size)


class LengthBatchSampler(BatchSampler):
    """Batches of items of similar length, so that little of a batch is padding.

    The order `sampler` gives (in training an EpochShuffle, or under DDP the DistributedSampler
    Lightning puts in its place, which yields this rank's share) is cut into chunks of
    `chunk_batches` batches (None: one chunk); each chunk is sorted by `lengths` (stably: equal
    lengths keep the sampler's random order), longest first, and cut into batches. With `shuffle`,
    the batches then come in an order drawn from (the sampler's seed, its epoch), so a resumed run
    sees the batches an uninterrupted one did. Every item the sampler gives is in exactly one batch,
    and the number of batches depends only on how many items it gives: every DDP rank gets as many.
    A BatchSampler with a `sampler` argument, so that Lightning can put its DistributedSampler in.
    """

    def __init__(
        self,
        sampler: Sampler[int],
        batch_size: int,
        drop_last: bool = False,
        *,
        lengths: Tensor,
        shuffle: bool = True,
        chunk_batches: int | None = 100,
    ):
        super().__init__(sampler, batch_size, drop_last)
        self.lengths, self.shuffle, self.chunk_batches = torch.as_tensor(lengths), shuffle, chunk_batches

    def __iter__(self):
        order = torch.as_tensor(list(self.sampler), dtype=torch.long)
        chunk = max(len(order), 1) if self.chunk_batches is None else self.chunk_batches * self.batch_size
        batches = []
        for part in order.split(chunk):
            part = part[torch.sort(self.lengths[part], descending=True, stable=True).indices]
            batches += part.split(self.batch_size)  # full batches but for the very last one
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            generator = epoch_generator(self.sampler.seed, self.sampler.epoch, 1)
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        for batch in batches:
            yield batch.tolist()


class EvalBatches(DistributedSampler):
    """The batches of an evaluation split (validation, test) for this process: its share of the items
    (rank, rank + processes, ...; one share, all items, without DDP), sorted by `lengths`, longest
    first, and cut into batches. Under DDP every item is in exactly one process's share and none is
    repeated: the DistributedSampler Lightning would put in pads the shares to equal size with
    repeated items, which then count twice in the metrics and the test record. A DistributedSampler,
    so Lightning keeps it; a DataLoader takes it as `sampler` with `batch_size=None`, and the dataset
    serves each list of indices as one batch. Shares differ by at most one item; evaluation has no
    collective step but the metrics' sync at the epoch's end, so the processes need not run as many
    batches."""

    def __init__(
        self, data: Dataset, batch_size: int, *, lengths: Tensor, processes: int | None = None, rank: int | None = None
    ):
        if processes is None or rank is None:  # this process's place in the process group, if any
            distributed = dist.is_available() and dist.is_initialized()
            processes, rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        super().__init__(data, num_replicas=processes, rank=rank, shuffle=False)
        self.batch_size, self.lengths = batch_size, torch.as_tensor(lengths)
        self.share = torch.arange(rank, len(self.lengths), processes)
        self.num_samples = self.total_size = len(self.share)

    def __iter__(self):
        order = self.share[torch.sort(self.lengths[self.share], descending=True, stable=True).indices]
        for batch in order.split(self.batch_size):
            yield batch.tolist()

    def __len__(self) -> int:
        return -(-len(self.share) // self.batch_size)
