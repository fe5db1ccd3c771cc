"""Character sequence-to-sequence on word pairs (course lesson 6, the toy).

Symbols: 0 padding, 1 start, 2 end, then a-z (the course's `S E ?` + a-z). Built in: the course's
six pairs; or a file of `word<TAB>word` lines (`task.data.file=`). The toy trains, validates and
tests on the same pairs (the lesson's point is to reproduce them); `probe` words (the course's
unseen `mans`, `old`, ...) are translated and logged to show what the model does with them.
"""

import string
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from src.data.batching import PairedSequences, PassesBatchSampler, batch_as_is
from src.errors import UserError

SYMBOLS = ["<pad>", "<s>", "</s>", *string.ascii_lowercase]
COURSE_PAIRS = [
    ["man", "women"],
    ["black", "white"],
    ["king", "queen"],
    ["girl", "boy"],
    ["up", "down"],
    ["high", "low"],
]
COURSE_PROBES = ["man", "mans", "king", "black", "up", "old", "high"]


def encode_word(word: str) -> list[int]:
    bad = sorted({ch for ch in word if ch not in string.ascii_lowercase})
    if not word or bad:
        raise UserError(
            f"{word!r} is not a lowercase a-z word (bad: {''.join(bad) or 'empty'}); pairs are letters only"
        )
    return [SYMBOLS.index(ch) for ch in word]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs, skipped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = [p.strip().lower() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            skipped += 1
            continue
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise UserError(f"{path} has no word<TAB>word lines ({skipped} skipped)")
    return pairs


class PairsDataModule(L.LightningDataModule):
    def __init__(self, data_dir: str = "data", file: str | None = None, pairs: list | None = None,
                 probes: list | None = None, batch_size: int = 32, passes: int = 1):  # fmt: skip
        super().__init__()
        self.data_dir, self.file, self.batch_size, self.passes = Path(data_dir), file, batch_size, passes
        self.pairs = [tuple(p) for p in (pairs or COURSE_PAIRS)]
        self.probes = list(probes if probes is not None else COURSE_PROBES)
        for word in self.probes:
            encode_word(word)
        self.spec = {"src_symbols": SYMBOLS, "tgt_symbols": SYMBOLS, "joiner": "", "probes": self.probes}
        self.dataset: PairedSequences | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.file:
            path = self.data_dir / self.file
            if not path.is_file():
                raise UserError(f"{path} does not exist; give a file of word<TAB>word lines (task.data.file)")
            self.pairs = read_pairs(path)
        self.dataset = PairedSequences([encode_word(a) for a, _ in self.pairs], [encode_word(b) for _, b in self.pairs])

    def _loader(self, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=shuffle, collate_fn=batch_as_is)

    def train_dataloader(self) -> DataLoader:
        sampler = PassesBatchSampler(len(self.dataset), self.batch_size, self.passes)
        return DataLoader(self.dataset, batch_sampler=sampler, collate_fn=batch_as_is)

    def val_dataloader(self) -> DataLoader:
        return self._loader()

    def test_dataloader(self) -> DataLoader:
        return self._loader()
