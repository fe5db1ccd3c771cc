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

from src.data.batching import IGNORE, PaddedSequences, pad
from src.data.download import DINOS, ensure_files, user_file
from src.data.specs import LanguageModelSpec
from src.data.splits import SplitsDataModule, check_folds, k_fold
from src.data.text_files import MAX_DATA_LINE, read_lines
from src.data.vocab import END, Vocab, fold_to_ascii
from src.errors import UserError

log = logging.getLogger(__name__)

LETTERS = string.ascii_lowercase
# The language model's vocabulary: END (id 0) is the boundary, the first input and the last target of
# every word; a-z are 1-26. Inputs are padded with END too; packing keeps padding out of the recurrence.
VOCAB = Vocab(LETTERS, specials=[END])


def find_words_file(data_dir: str | Path, file: str = "dinos.txt") -> Path:
    """The words file under data_dir, downloading dinos.txt when it is the one missing."""
    path = user_file(data_dir, file)
    if not path.is_file() and file == DINOS.single_file:
        ensure_files(DINOS, data_dir)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give a file of one word a line")
    return path


def read_words(path: Path) -> tuple[list[str], Counter]:
    """Words folded to ASCII and lowercased over a-z; other symbols are dropped and counted (never a
    crash mid-epoch)."""
    words, dropped = [], Counter()
    for _, line in read_lines(path, "a UTF-8 file of one word a line", MAX_DATA_LINE):
        word = fold_to_ascii(line.strip()).lower()  # 'Ä' -> 'a'; what is still not a-z is dropped
        kept = "".join(ch for ch in word if ch in LETTERS)
        dropped.update(ch for ch in word if ch not in LETTERS)
        if kept:
            words.append(kept)
    if not words:
        raise UserError(f"{path} has no words (empty, or only blank lines); give one word a line")
    return words, dropped


def split_words(
    words: list[str],
    seed: int = 0,
    val: int = 154,
    test: int = 154,
    unique: bool = True,
    folds: int | None = None,
    fold: int = 0,
):
    """(train, val, test) as the module docstring says (unique=False keeps repeats, as the anchors);
    with `folds`, fold `fold` of a k-fold cross-validation (src.data.splits.k_fold: `test` unused)."""
    words = list(dict.fromkeys(words)) if unique else words[:]
    if folds is not None:
        return k_fold(words, folds, fold, val, seed)
    if len(words) < val + test + 1:
        raise UserError(f"{len(words)} words cannot make {val} validation and {test} test words and a training set")
    random.Random(seed).shuffle(words)
    return words[: -(val + test)], words[-(val + test) : -test], words[-test:]


def language_model_datasets(words: dict[str, list[str]], vocab: Vocab, starts: dict[str, list[int]] | None = None):
    """PaddedSequences per split of `words`; each word's first input is END, or `starts[split][i]`."""
    datasets = {}
    for split, part in words.items():
        first = starts[split] if starts else [vocab.id(END)] * len(part)
        pairs = [([s, *vocab.encode(w)], [*vocab.encode(w), vocab.id(END)]) for w, s in zip(part, first, strict=True)]
        tokens, lengths = pad([p[0] for p in pairs], vocab.id(END))
        targets, _ = pad([p[1] for p in pairs], IGNORE)
        datasets[split] = PaddedSequences(tokens, lengths, targets)
    return datasets


class WordsDataModule(SplitsDataModule):
    """Character language modelling on a words file (dinos.txt, or any file via task.data.file)."""

    def __init__(
        self,
        data_dir: str,
        file: str,
        val_size: int,
        test_size: int,
        split_seed: int,
        unique: bool,
        batch_size: int,
        eval_batch_size: int,
        bucketing: bool,
        folds: int | None = None,
        fold: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, bucketing=bucketing)
        check_folds(folds, fold)
        self.folds, self.fold = folds, fold
        self.data_dir, self.file = data_dir, file
        self.val_size, self.test_size, self.split_seed, self.unique = val_size, test_size, split_seed, unique
        self.spec = LanguageModelSpec(vocab=VOCAB)
        self.words: dict[str, list[str]] = {}

    def prepare_data(self) -> None:
        find_words_file(self.data_dir, self.file)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        path = find_words_file(self.data_dir, self.file)
        words, dropped = read_words(path)
        try:
            train, val, test = split_words(
                words, self.split_seed, self.val_size, self.test_size, self.unique, self.folds, self.fold
            )
        except UserError as err:
            what = "" if self.folds else "; give a longer file, or set task.data.val_size and test_size"
            raise UserError(f"{path}: {err}{what}") from None
        self.words = {"train": train, "val": val, "test": test}
        self.spec = LanguageModelSpec(vocab=VOCAB, train_words=sorted(train))  # to tell new samples from seen ones
        self.datasets = language_model_datasets(self.words, VOCAB)
        log.info(
            "words: %d from %s (%d unique), %d symbols; split seed %d%s: train %d / val %d / test %d; dropped %s",
            len(words),
            path,
            len(set(words)),
            len(VOCAB),
            self.split_seed,
            f", fold {self.fold} of {self.folds}" if self.folds else "",
            len(train),
            len(val),
            len(test),
            dict(dropped) or "nothing",
        )
