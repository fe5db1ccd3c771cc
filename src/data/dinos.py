"""Dinosaur names, one word a line, lowercased over `a`-`z` (course lesson 5).

`read_words` and `split_words` give the split the issue's published anchors use: strip, lowercase,
drop blank lines; shuffle with random.Random(seed); the last `test` words are the test set and the
`val` before them the validation set.
"""

import random
import string
from collections import Counter
from pathlib import Path

from src.data.download import DINOS, ensure_files
from src.errors import UserError

LETTERS = string.ascii_lowercase


def find_words_file(data_dir: str | Path, file: str = "dinos.txt") -> Path:
    """The words file under data_dir, downloading dinos.txt when it is the one missing."""
    path = Path(data_dir) / file
    if not path.is_file() and file == DINOS.single_file:
        ensure_files(DINOS, data_dir)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give a file of one word a line")
    return path


def read_words(path: Path) -> tuple[list[str], Counter]:
    """Lowercased words over a-z; other symbols are dropped and counted (never a crash mid-epoch)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8") from err
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror})") from err
    words, dropped = [], Counter()
    for line in lines:
        word = line.strip().lower()
        kept = "".join(ch for ch in word if ch in LETTERS)
        dropped.update(ch for ch in word if ch not in LETTERS)
        if kept:
            words.append(kept)
    if not words:
        raise UserError(f"{path} has no words (empty, or only blank lines); give one word a line")
    return words, dropped


def split_words(words: list[str], seed: int = 0, val: int = 154, test: int = 154):
    """(train, val, test) as the module docstring says."""
    if len(words) < val + test + 1:
        raise UserError(f"{len(words)} words cannot make {val} validation and {test} test words and a training set")
    words = words[:]
    random.Random(seed).shuffle(words)
    return words[: -(val + test)], words[-(val + test) : -test], words[-test:]
