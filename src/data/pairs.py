"""Character sequence-to-sequence on word pairs (course lesson 6, the toy).

Symbols: the specials PAD, START, END, then a-z (the course's `S E ?` + a-z). Built in: the course's
six pairs; or a file of `word<TAB>word` lines (`task.data.file=`). The toy trains, validates and
tests on the same pairs (the lesson's point is to reproduce them); `probe` words (the course's
unseen `mans`, `old`, ...) are translated and logged to show what the model does with them.
"""

import string
from pathlib import Path

from src.data.batching import PairedSequences
from src.data.download import user_file
from src.data.specs import Seq2SeqSpec
from src.data.splits import SplitsDataModule
from src.data.text_files import MAX_DATA_LINE, read_lines
from src.data.vocab import END, PAD, START, Vocab
from src.errors import UserError

VOCAB = Vocab(string.ascii_lowercase, specials=[PAD, START, END])
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
    return VOCAB.encode(word)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs, skipped = [], 0
    for _, line in read_lines(path, "a UTF-8 file of word<TAB>word lines", MAX_DATA_LINE):
        parts = [p.strip().lower() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            skipped += 1
            continue
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise UserError(f"{path} has no word<TAB>word lines ({skipped} skipped)")
    return pairs


class PairsDataModule(SplitsDataModule):
    def __init__(
        self,
        data_dir: str,
        file: str | None,
        probes: list[str],
        batch_size: int,
        passes: int,
        pairs: list | None = None,
    ):
        super().__init__(batch_size, passes=passes)
        self.data_dir, self.file = Path(data_dir), file
        self.pairs = [tuple(p) for p in (pairs or COURSE_PAIRS)]
        self.probes = list(probes)
        for word in self.probes:
            encode_word(word)
        # normalize="lower": predict reads "Hello" as training read the file's pairs (lowercased)
        self.spec = Seq2SeqSpec(source=VOCAB, target=VOCAB, joiner="", normalize="lower", probes=self.probes)

    def setup(self, stage: str | None = None) -> None:
        if self.file:
            path = user_file(self.data_dir, self.file)
            if not path.is_file():
                raise UserError(f"{path} does not exist; give a file of word<TAB>word lines (task.data.file)")
            self.pairs = read_pairs(path)
        src, tgt = [encode_word(a) for a, _ in self.pairs], [encode_word(b) for _, b in self.pairs]
        dataset = PairedSequences(src, tgt, VOCAB.id(PAD), VOCAB.id(START), VOCAB.id(END))
        self.datasets = {"train": dataset, "val": dataset, "test": dataset}
