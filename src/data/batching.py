"""Padded sequences built once as tensors, fetched a whole batch at a time.

The course fed one example at a time. Here every sequence is encoded and padded once at setup()
into an (N, T) tensor; a batch is one index operation, trimmed to its longest member, so the
DataLoader does no per-item Python work.
"""

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, RandomSampler, Sampler

IGNORE = -100  # padding in per-step targets: cross_entropy's ignore_index


class Batch(NamedTuple):
    tokens: Tensor  # (B, T) padded ids
    lengths: Tensor  # (B,) true lengths, on the CPU as pack_padded_sequence wants them
    targets: Tensor  # (B,) one label per sequence, or (B, T) one per step


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

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        lengths = self.lengths[idx]
        longest = int(lengths.max())
        targets = self.targets[idx]
        if targets.dim() > 1:  # per-step targets are trimmed like the inputs
            targets = targets[:, :longest]
        return Batch(self.tokens[idx, :longest], lengths, targets)


def batch_as_is(batch: Batch) -> Batch:
    """collate_fn for PaddedSequences: the dataset already returned the batch."""
    return batch


class PairBatch(NamedTuple):
    src: Tensor  # (B, S) source ids, end symbol included
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) start + target: what the decoder reads
    tgt_out: Tensor  # (B, T) target + end, IGNORE past it: what it must write
    index: Tensor  # (B,) positions in the dataset (to look up every reference of an item)


class PairedSequences(Dataset):
    """Source and target id lists, padded once, served by batch: the source with `end` appended,
    the decoder's input with `start` prepended, its output with `end` appended."""

    def __init__(self, src: list[list[int]], tgt: list[list[int]], pad_id: int, start: int, end: int):
        self.src, self.src_lengths = pad([[*s, end] for s in src], pad_id)
        self.tgt_in, _ = pad([[start, *t] for t in tgt], pad_id)
        self.tgt_out, self.tgt_lengths = pad([[*t, end] for t in tgt], pad_id=IGNORE)

    def __len__(self) -> int:
        return len(self.src)

    def __getitems__(self, indices: list[int]) -> PairBatch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        s, t = int(self.src_lengths[idx].max()), int(self.tgt_lengths[idx].max())
        return PairBatch(self.src[idx, :s], self.src_lengths[idx], self.tgt_in[idx, :t], self.tgt_out[idx, :t], idx)


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
        generator = torch.Generator().manual_seed(
            int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        )
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
