"""English -> French sentence pairs (course lesson 6, the real part): reading, the tutorial's
normalisation and filters, word vocabularies and the two splits. The `translate` task that trains
on them is still to come (issue 4); this is its tested data layer.

Splits:
- `grouped` (default): pairs grouped by source sentence, whole groups go to one split, so no source
  sentence is in two splits; every translation of a source in the file is a reference for BLEU.
- `classic`: every pair, `random.Random(seed)` shuffle, the first `test` pairs test and the next
  `val` pairs validation, one reference each (the protocol of the published anchors).
"""

import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from src.data.vocab import fold_to_ascii
from src.errors import UserError

SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]
PAD, SOS, EOS, UNK = range(4)
# The PyTorch tutorial's English prefixes (after normalisation), for task.data.prefixes=tutorial
TUTORIAL_PREFIXES = ("i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ", "we are",
                     "we re ", "they are", "they re ")  # fmt: skip


def normalize(text: str) -> str:
    """Lowercase ASCII words, with . ! ? split off as tokens (the tutorial's normalizeString)."""
    text = fold_to_ascii(text.lower().strip())
    text = re.sub(r"([.!?])", r" \1", text)
    return re.sub(r"[^a-z.!?]+", " ", text).strip()


def read_pairs(path: Path, reverse: bool = False) -> tuple[list[tuple[str, str]], int]:
    """Normalised (source, target) pairs and the number of lines skipped (no tab, or an empty side)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path} ({getattr(err, 'strerror', None) or err}); give a UTF-8 file") from err
    pairs, skipped = [], 0
    for line in lines:
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


def filter_pairs(pairs, max_length: int = 10, prefixes: tuple[str, ...] | None = None):
    """Pairs whose sides have fewer than max_length tokens and, given prefixes, whose English starts
    with one of them (the tutorial's filterPair)."""
    return [
        (a, b) for a, b in pairs
        if len(a.split()) < max_length and len(b.split()) < max_length and (not prefixes or a.startswith(prefixes))
    ]  # fmt: skip


def split_pairs(pairs, split: str = "grouped", val: int = 1000, test: int = 1000, seed: int = 0):
    """(train, val, test) lists of (source, [references]) for val/test and (source, target) for train."""
    rng = random.Random(seed)
    if split == "classic":
        pairs = pairs[:]
        rng.shuffle(pairs)
        if len(pairs) <= val + test:
            raise UserError(f"{len(pairs)} pairs cannot make {test} test, {val} validation and a training set")
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
        raise UserError(f"{len(sources)} source sentences cannot make {test} test, {val} validation and a training set")
    test_src, val_src, train_src = sources[:test], sources[test : test + val], sources[test + val :]
    train = [(a, b) for a in train_src for b in references[a]]
    return train, [(a, references[a]) for a in val_src], [(a, references[a]) for a in test_src]


class WordVocab:
    """Words seen at least min_freq times in training, after the four special symbols."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences: list[str], min_freq: int = 1) -> "WordVocab":
        counts = Counter(w for s in sentences for w in s.split())
        return cls(SPECIALS + sorted(w for w, n in counts.items() if n >= min_freq))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentence: str) -> tuple[list[int], list[str]]:
        """Ids with <eos> appended, and the words that became <unk>."""
        ids = [self.ids.get(w, UNK) for w in sentence.split()]
        unknown = [w for w in sentence.split() if w not in self.ids]
        return [*ids, EOS], unknown

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids if i > EOS)
