"""Surnames labelled with their language of origin (18 languages, 20074 rows).

Reads either layout of the data: a folder of `<Language>.txt` files (one name a line), or one file
of `name<TAB>Language` lines. Names are folded to ASCII over the 57-symbol alphabet.

Splits:
- `grouped` (default): exact (name, language) repeats removed, then split by unique name, so no
  name sits in two splits (480 names occur under more than one language: all their rows go together).
- `classic`: every row, shuffled and cut at random, as published figures do; the same name can be
  in train and test, so its accuracy is optimistic.
"""

import logging
import os
import random
from collections import Counter
from pathlib import Path

import torch

from src.data.batching import PaddedSequences, pad
from src.data.download import NAMES, ensure_files, user_file
from src.data.specs import ClassificationSpec
from src.data.splits import SplitsDataModule, check_folds, k_fold
from src.data.text_files import MAX_DATA_LINE, read_lines
from src.data.vocab import NAMES_ALPHABET, PAD, Vocab
from src.errors import UserError

log = logging.getLogger(__name__)

# Scraping leftovers in names/Russian.txt; never a surname.
JUNK_LINES = {"To The First Page"}
SPLITS = ("grouped", "classic")


def read_labelled_names(path: Path) -> list[tuple[str, str]]:
    """(raw name, language) rows from a folder of <Language>.txt or a name<TAB>Language file."""
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise UserError(f"cannot read the folder {path} (permission denied); give read access or copy the data")
        files = sorted(path.glob("*.txt"))
        if not files:
            raise UserError(f"{path} has no <Language>.txt files; point task.data.path at the names folder")
        rows = []
        for f in files:
            names = [(name.strip(), f.stem) for _, name in _lines(f, expect_tab=False)]
            if not names:  # a language without names would vanish from the labels without a word
                raise UserError(f"{f} has no names; fill it (one name a line) or remove it")
            rows += names
        return rows
    rows = []
    for lineno, line in _lines(path, expect_tab=True):
        name, language = line.split("\t")
        if not language.strip():
            raise UserError(f"{path}:{lineno}: the language after the tab is empty; expected name<TAB>Language")
        rows.append((name.strip(), language.strip()))
    return rows


def _lines(path: Path, expect_tab: bool):
    """(line number, line without outer spaces) for the non-blank lines of `path`, with clear errors."""
    want = "name<TAB>Language" if expect_tab else "one name a line, no tabs"
    for lineno, line in read_lines(path, f"a file of {want} lines", MAX_DATA_LINE):
        if not line.strip():
            continue
        if line.count("\t") != (1 if expect_tab else 0):
            raise UserError(f"{path}:{lineno}: malformed line {line[:40]!r}; expected {want}")
        yield lineno, line.strip(" \r\n")


def split_rows(
    rows: list[tuple[str, str]],
    split: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    folds: int | None = None,
    fold: int = 0,
):
    """Cut rows into (train, val, test) lists as the module docstring describes; with `folds`, fold
    `fold` of a k-fold cross-validation over the same units (rows, or names when grouped: no name in
    two splits), validation `val_fraction` of the units, `test_fraction` unused."""
    rng = random.Random(seed)
    if folds is not None:
        if split == "classic":
            return k_fold(rows, folds, fold, round(len(rows) * val_fraction), seed)
        rows = list(dict.fromkeys(rows))
        names = sorted({name for name, _ in rows})
        train, val, test = k_fold(names, folds, fold, round(len(names) * val_fraction), seed)
        part = {n: 2 for n in test} | {n: 1 for n in val}
        splits = ([], [], [])
        for row in rows:
            splits[part.get(row[0], 0)].append(row)
        return splits
    if split == "classic":
        rows = rows[:]
        rng.shuffle(rows)
        n_test, n_val = round(len(rows) * test_fraction), round(len(rows) * val_fraction)
        return rows[n_test + n_val :], rows[n_test : n_test + n_val], rows[:n_test]
    if split != "grouped":
        raise UserError(f"task.data.split={split} is unknown; use one of {', '.join(SPLITS)}")
    rows = list(dict.fromkeys(rows))  # drop exact repeats, keep first-seen order
    names = sorted({name for name, _ in rows})
    rng.shuffle(names)
    n_test, n_val = round(len(names) * test_fraction), round(len(names) * val_fraction)
    part = {n: 2 for n in names[:n_test]} | {n: 1 for n in names[n_test : n_test + n_val]}
    splits = ([], [], [])
    for row in rows:
        splits[part.get(row[0], 0)].append(row)
    return splits


class NamesDataModule(SplitsDataModule):
    """Names -> language. After setup(), `spec` holds what the model needs: alphabet and labels."""

    def __init__(
        self,
        data_dir: str,
        path: str,
        split: str,
        val_fraction: float,
        test_fraction: float,
        split_seed: int,
        batch_size: int,
        eval_batch_size: int,
        bucketing: bool,
        num_workers: int = 0,
        folds: int | None = None,
        fold: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers=num_workers, bucketing=bucketing)
        check_folds(folds, fold)
        self.folds, self.fold = folds, fold
        if split not in SPLITS:
            raise UserError(f"task.data.split={split} is unknown; use one of {', '.join(SPLITS)}")
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise UserError("task.data.val_fraction and test_fraction must be in (0, 1) and sum below 1")
        self.data_dir, self.path = Path(data_dir), path
        self.split, self.val_fraction, self.test_fraction, self.split_seed = (
            split,
            val_fraction,
            test_fraction,
            split_seed,
        )
        self.vocab = Vocab(NAMES_ALPHABET, specials=[PAD])
        self.rows: dict[str, list[tuple[str, str]]] = {}  # split -> (clean name, language) rows

    @property
    def source_path(self) -> Path:
        return user_file(self.data_dir, self.path)

    def prepare_data(self) -> None:
        if self.path == "names" and not self.source_path.exists():
            ensure_files(NAMES, self.data_dir)
        elif not self.source_path.exists():
            raise UserError(f"{self.source_path} does not exist; set task.data.path (relative to paths.data_dir)")

    def labelled_names(self) -> tuple[list[tuple[str, str]], Counter]:
        """Every (clean name, language) row of the data, and what was dropped on the way."""
        rows, dropped, raws = [], Counter(), set()
        for raw, language in read_labelled_names(self.source_path):
            if raw in JUNK_LINES:
                dropped["junk lines"] += 1
                continue
            name, bad = self.vocab.clean(raw)
            if bad:
                dropped["symbols outside the alphabet"] += len(bad)
            if not name:
                dropped["names empty after folding"] += 1
                continue
            rows.append((name, language))
            raws.add((raw, language))
        if not rows:
            raise UserError(f"{self.source_path} holds no usable names")
        if merged := len(raws) - len(set(rows)):  # "Li2", "Li3" -> "Li": one name once cleaned
            dropped["names merged with another once cleaned"] = merged
        lost = merged + dropped["names empty after folding"]
        if lost > 0.05 * (len(raws) + dropped["names empty after folding"]):
            log.warning(
                "names: %d of %d distinct names in %s were lost or merged once cleaned: the alphabet keeps "
                "ASCII letters, space and . , ; ' (digits and other symbols are dropped, accents folded)",
                lost,
                len(raws) + dropped["names empty after folding"],
                self.source_path,
            )
        return rows, dropped

    def cut(self, rows: list[tuple[str, str]], dropped: Counter) -> None:
        """self.rows: the (train, val, test) cut of `rows` as the module docstring describes; none empty."""
        train, val, test = split_rows(
            rows, self.split, self.val_fraction, self.test_fraction, self.split_seed, self.folds, self.fold
        )
        self.rows = {"train": train, "val": val, "test": test}
        for name, part in self.rows.items():
            if not part:  # say how few names there really are: rows may collapse once cleaned ("Li2", "Li3")
                distinct = len({n for n, _ in rows})
                raise UserError(
                    f"the {name} split of {self.source_path} is empty: its {len(rows)} rows hold {distinct} distinct "
                    f"names once cleaned (dropped: {dict(dropped) or 'nothing'}); give more names, or raise "
                    "task.data.val_fraction and test_fraction"
                )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rows, dropped = self.labelled_names()
        labels = sorted({language for _, language in rows})
        self.cut(rows, dropped)
        counts = Counter(language for _, language in self.rows["train"])
        self.spec = ClassificationSpec(vocab=self.vocab, labels=labels, label_counts=[counts[x] for x in labels])
        index = {language: i for i, language in enumerate(labels)}
        for stage_name, part in self.rows.items():
            tokens, lengths = pad([self.vocab.encode(name) for name, _ in part], self.vocab.id(PAD))
            targets = torch.tensor([index[language] for _, language in part], dtype=torch.long)
            self.datasets[stage_name] = PaddedSequences(tokens, lengths, targets)
        sizes = " / ".join(f"{k} {len(v)}" for k, v in self.rows.items())
        log.info(
            "names: %d rows from %s, %d languages, %d-symbol alphabet; split %s (seed %d): %s; dropped %s",
            len(rows),
            self.source_path,
            len(labels),
            len(self.vocab.tokens),
            self.split,
            self.split_seed,
            sizes,
            dict(dropped) or "nothing",
        )
