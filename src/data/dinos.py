"""Words, one a line, lowercased over `a`-`z`, for a character language model (course lesson 5).

Split: strip, lowercase, drop blank lines, keep each word once; shuffle with random.Random(seed);
the last `test` words are the test set and the `val` before them the validation set. (The issue's
published anchors used the same protocol without removing the 13 repeats of dinos.txt.)
"""

import logging
import random
import string
from collections import Counter
from pathlib import Path

from src.data.batching import IGNORE, PaddedSequences, SplitsDataModule, pad
from src.data.download import DINOS, ensure_files
from src.data.vocab import fold_to_ascii
from src.errors import UserError

log = logging.getLogger(__name__)

LETTERS = string.ascii_lowercase
# Symbol ids of the language model: 0 is the boundary (the start input and the end-of-name target),
# 1-26 are a-z. Inputs are padded with 0 too; packing keeps padding out of the recurrence.
SYMBOLS = "." + LETTERS


def find_words_file(data_dir: str | Path, file: str = "dinos.txt") -> Path:
    """The words file under data_dir, downloading dinos.txt when it is the one missing."""
    path = Path(data_dir) / file
    if not path.is_file() and file == DINOS.single_file:
        ensure_files(DINOS, data_dir)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give a file of one word a line")
    return path


def read_words(path: Path) -> tuple[list[str], Counter]:
    """Words folded to ASCII and lowercased over a-z; other symbols are dropped and counted (never a
    crash mid-epoch)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8") from err
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror})") from err
    words, dropped = [], Counter()
    for line in lines:
        word = fold_to_ascii(line.strip()).lower()  # 'Ä' -> 'a'; what is still not a-z is dropped
        kept = "".join(ch for ch in word if ch in LETTERS)
        dropped.update(ch for ch in word if ch not in LETTERS)
        if kept:
            words.append(kept)
    if not words:
        raise UserError(f"{path} has no words (empty, or only blank lines); give one word a line")
    return words, dropped


def split_words(words: list[str], seed: int = 0, val: int = 154, test: int = 154, unique: bool = True):
    """(train, val, test) as the module docstring says (unique=False keeps repeats, as the anchors)."""
    words = list(dict.fromkeys(words)) if unique else words[:]
    if len(words) < val + test + 1:
        raise UserError(f"{len(words)} words cannot make {val} validation and {test} test words and a training set")
    random.Random(seed).shuffle(words)
    return words[: -(val + test)], words[-(val + test) : -test], words[-test:]


def encode(word: str) -> tuple[list[int], list[int]]:
    """Input ids [boundary, w0, ..., wn-1] and target ids [w0, ..., wn-1, boundary]."""
    ids = [1 + LETTERS.index(ch) for ch in word]
    return [0, *ids], [*ids, 0]


class WordsDataModule(SplitsDataModule):
    """Character language modelling on a words file (dinos.txt, or any file via task.data.file)."""

    def __init__(self, data_dir: str, file: str = "dinos.txt", val_size: int = 154, test_size: int = 154,
                 split_seed: int = 0, unique: bool = True, batch_size: int = 32,
                 eval_batch_size: int = 256):  # fmt: skip
        super().__init__()
        self.data_dir, self.file = data_dir, file
        self.val_size, self.test_size, self.split_seed, self.unique = val_size, test_size, split_seed, unique
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.spec = {"symbols": SYMBOLS}
        self.words: dict[str, list[str]] = {}
        self.datasets: dict[str, PaddedSequences] = {}

    def prepare_data(self) -> None:
        find_words_file(self.data_dir, self.file)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        path = find_words_file(self.data_dir, self.file)
        words, dropped = read_words(path)
        train, val, test = split_words(words, self.split_seed, self.val_size, self.test_size, self.unique)
        self.words = {"train": train, "val": val, "test": test}
        self.spec = {"symbols": SYMBOLS, "train_words": sorted(train)}  # to tell new samples from seen ones
        for split, part in self.words.items():
            pairs = [encode(w) for w in part]
            tokens, lengths = pad([p[0] for p in pairs])
            targets, _ = pad([p[1] for p in pairs], pad_id=IGNORE)
            self.datasets[split] = PaddedSequences(tokens, lengths, targets)
        log.info(
            "words: %d from %s (%d unique), %d symbols; split seed %d: train %d / val %d / test %d; dropped %s",
            len(words), path, len(set(words)), len(SYMBOLS), self.split_seed, len(train), len(val), len(test),
            dict(dropped) or "nothing",
        )  # fmt: skip
