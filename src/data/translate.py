"""English -> French sentence pairs (course lesson 6, the real part): reading, the tutorial's
normalisation and filters, word vocabularies, the two splits, and the DataModule over them.

Splits:
- `grouped` (default): pairs grouped by source sentence, whole groups go to one split, so no source
  sentence is in two splits; every translation of a source in the file is a reference for BLEU.
- `classic`: every pair, `random.Random(seed)` shuffle, the first `test` pairs test and the next
  `val` pairs validation, one reference each (the protocol of the published anchors).
"""

import logging
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from src.data.batching import PairedSequences
from src.data.download import ENG_FRA, ensure_files, user_file
from src.data.specs import Seq2SeqSpec
from src.data.splits import SplitsDataModule
from src.data.text_files import MAX_DATA_LINE, read_lines
from src.data.vocab import END, PAD, SPECIALS, START, Vocab, fold_to_ascii
from src.errors import UserError

log = logging.getLogger(__name__)

# The PyTorch tutorial's English prefixes (after normalisation), for task.data.prefixes=tutorial
TUTORIAL_PREFIXES = (
    "i am ",
    "i m ",
    "he is",
    "he s ",
    "she is",
    "she s ",
    "you are",
    "you re ",
    "we are",
    "we re ",
    "they are",
    "they re ",
)


def normalize(text: str) -> str:
    """Lowercase ASCII words, with . ! ? split off as tokens (the tutorial's normalizeString)."""
    text = fold_to_ascii(text.lower().strip())
    text = re.sub(r"([.!?])", r" \1", text)
    return re.sub(r"[^a-z.!?]+", " ", text).strip()


def read_pairs(path: Path, reverse: bool = False) -> tuple[list[tuple[str, str]], int]:
    """Normalised (source, target) pairs and the number of lines skipped (no tab, or an empty side)."""
    pairs, skipped = [], 0
    for _, line in read_lines(path, "a UTF-8 file of source<TAB>target lines", MAX_DATA_LINE):
        parts = line.split("\t")
        if len(parts) < 2:
            skipped += 1
            continue
        src, tgt = normalize(parts[0]), normalize(parts[1])
        if not src or not tgt:
            skipped += 1
            continue
        pairs.append((tgt, src) if reverse else (src, tgt))
    if not pairs:
        raise UserError(f"{path} has no English<TAB>French lines ({skipped} skipped)")
    return pairs, skipped


def filter_pairs(pairs, max_length: int = 10, prefixes: tuple[str, ...] | None = None, english: int = 0):
    """Pairs whose sides have fewer than max_length tokens and, given prefixes, whose English side
    (`english`: 0 the source, 1 the target, as with task.data.reverse=true) starts with one of them
    (the tutorial's filterPair, which reads the English side in either direction)."""
    return [
        (a, b)
        for a, b in pairs
        if len(a.split()) < max_length
        and len(b.split()) < max_length
        and (not prefixes or (a, b)[english].startswith(prefixes))
    ]


def split_pairs(pairs, split: str = "grouped", val: int = 1000, test: int = 1000, seed: int = 0):
    """(train, val, test) lists of (source, [references]) for val/test and (source, target) for train."""
    rng = random.Random(seed)
    if split == "classic":
        pairs = pairs[:]
        rng.shuffle(pairs)
        if len(pairs) <= val + test:
            raise UserError(
                f"{len(pairs)} pairs cannot make {test} test, {val} validation and a training set; "
                "lower task.data.test_size and task.data.val_size"
            )
        as_refs = lambda part: [(a, [b]) for a, b in part]  # noqa: E731
        return pairs[test + val :], as_refs(pairs[test : test + val]), as_refs(pairs[:test])
    if split != "grouped":
        raise UserError(f"task.data.split={split} is unknown; use grouped or classic")
    references = defaultdict(list)
    for a, b in pairs:
        references[a].append(b)
    sources = sorted(references)
    rng.shuffle(sources)
    if len(sources) <= val + test:
        raise UserError(
            f"{len(sources)} source sentences cannot make {test} test, {val} validation and a training set; "
            "lower task.data.test_size and task.data.val_size"
        )
    test_src, val_src, train_src = sources[:test], sources[test : test + val], sources[test + val :]
    train = [(a, b) for a in train_src for b in references[a]]
    return train, [(a, references[a]) for a in val_src], [(a, references[a]) for a in test_src]


def word_vocab(sentences: list[str], min_freq: int = 1) -> Vocab:
    """Words seen at least min_freq times in `sentences`, after every special symbol."""
    counts = Counter(w for s in sentences for w in s.split())
    return Vocab(sorted(w for w, n in counts.items() if n >= min_freq), specials=SPECIALS)


class TranslateDataModule(SplitsDataModule):
    """eng-fra.txt (or any `source<TAB>target` file) as padded word-id batches; val and test items
    carry every reference of their source sentence (`references(split)`)."""

    def __init__(
        self,
        data_dir: str,
        file: str = "eng-fra.txt",
        reverse: bool = False,
        max_length: int = 10,
        prefixes: str | None = None,
        min_freq: int = 1,
        split: str = "grouped",
        val_size: int = 1000,
        test_size: int = 1000,
        split_seed: int = 0,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        *,
        bucketing: bool,
    ):
        super().__init__(batch_size, eval_batch_size, bucketing=bucketing)
        if prefixes not in (None, "tutorial"):
            raise UserError(f"task.data.prefixes={prefixes}; use null or tutorial")
        self.path, self.reverse, self.max_length = user_file(data_dir, file), reverse, max_length
        self.prefixes = TUTORIAL_PREFIXES if prefixes == "tutorial" else None
        self.min_freq, self.split, self.split_seed = min_freq, split, split_seed
        self.val_size, self.test_size = val_size, test_size
        self._references: dict[str, list[list[str]]] = {}

    def prepare_data(self) -> None:
        if not self.path.is_file() and self.path.name == "eng-fra.txt":
            ensure_files(ENG_FRA, self.path.parent)
        if not self.path.is_file():
            raise UserError(f"{self.path} does not exist; give a file of source<TAB>target lines (task.data.file)")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        pairs, skipped = read_pairs(self.path, self.reverse)
        kept = filter_pairs(pairs, self.max_length, self.prefixes, english=1 if self.reverse else 0)
        if not kept:
            raise UserError(
                f"no pair of {self.path} has both sides under task.data.max_length={self.max_length} tokens"
                + (" and English starting with the tutorial's prefixes" if self.prefixes else "")
                + "; raise task.data.max_length"
                + (" or set task.data.prefixes=null" if self.prefixes else "")
            )
        train, val, test = split_pairs(kept, self.split, self.val_size, self.test_size, self.split_seed)
        src_vocab = word_vocab([a for a, _ in train], self.min_freq)
        tgt_vocab = word_vocab([b for _, b in train], self.min_freq)
        specials = (src_vocab.id(PAD), src_vocab.id(START), src_vocab.id(END))  # the same ids on both sides

        def dataset(sources: list[str], targets: list[str]) -> PairedSequences:
            src = [src_vocab.encode(a.split()) for a in sources]
            return PairedSequences(src, [tgt_vocab.encode(b.split()) for b in targets], *specials)

        self.datasets["train"] = dataset([a for a, _ in train], [b for _, b in train])
        for name, part in (("val", val), ("test", test)):
            self.datasets[name] = dataset([a for a, _ in part], [refs[0] for _, refs in part])
            self._references[name] = [refs for _, refs in part]
        self.spec = Seq2SeqSpec(
            source=src_vocab,
            target=tgt_vocab,
            joiner=" ",
            normalize="words",
            probes=[a for a, _ in val[:6]],
            probe_references=[refs for _, refs in val[:6]],
        )
        log.info(
            "translate: %d pairs in %s (%d lines skipped), %d kept (< %d tokens%s); split %s (seed %d): train %d pairs "
            "/ val %d / test %d sources; vocab %d source, %d target words (min_freq %d)",
            len(pairs),
            self.path,
            skipped,
            len(kept),
            self.max_length,
            ", tutorial prefixes" if self.prefixes else "",
            self.split,
            self.split_seed,
            len(train),
            len(val),
            len(test),
            len(src_vocab),
            len(tgt_vocab),
            self.min_freq,
        )

    def references(self, split: str) -> list[list[str]]:
        return self._references[split]
