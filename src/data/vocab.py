"""The one vocabulary class: tokens <-> integer ids, with the special symbols defined here and
nowhere else. A vocabulary is saved in checkpoints as plain data (`to_dict`) and rebuilt from it.

Ids: the specials a vocabulary asks for come first, in the order given, then its tokens. So a
vocabulary with `specials=(PAD,)` has padding at id 0 and its first token at id 1.
"""

import string
import unicodedata
from collections.abc import Iterable

PAD = "<pad>"  # fills sequences to a batch's length; never a model's input or output that counts
START = "<s>"  # the decoder's first input
END = "</s>"  # the end of a sequence (a language model's boundary: its first input and last target)
UNK = "<unk>"  # a word outside the training vocabulary
SPECIALS = (PAD, START, END, UNK)

# The classic names alphabet: ascii_letters + " .,;'" (57 symbols).
NAMES_ALPHABET = string.ascii_letters + " .,;'"


def fold_to_ascii(text: str) -> str:
    """'Bélanger' -> 'Belanger': decompose (NFD) and drop the combining marks."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


class Vocab:
    """`specials` (a subset of SPECIALS, in the order given) take ids 0.., then `tokens` in order."""

    def __init__(self, tokens: Iterable[str], specials: Iterable[str] = ()):
        specials, tokens = list(specials), list(tokens)
        unknown = [s for s in specials if s not in SPECIALS]
        if unknown:
            raise ValueError(f"special {unknown[0]!r} is not one of {', '.join(SPECIALS)}")
        self.specials, self.tokens = specials, tokens
        self.itos = specials + tokens
        if len(set(self.itos)) != len(self.itos):
            raise ValueError(f"repeated symbols in the vocabulary: {self.itos[:20]}")
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def __len__(self) -> int:
        """Number of ids, specials included (the embedding table's size)."""
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos and self.specials == other.specials

    def id(self, special: str) -> int:
        """The id of a special symbol this vocabulary holds."""
        if special not in self.specials:
            raise KeyError(f"this vocabulary has no {special} (its specials: {self.specials})")
        return self.stoi[special]

    @property
    def special_ids(self) -> list[int]:
        return list(range(len(self.specials)))

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`; a token outside the vocabulary is <unk> when there is one, else a KeyError."""
        unk = self.stoi.get(UNK)
        return [self.stoi[t] if unk is None else self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of `ids`, specials left out."""
        first = len(self.specials)
        return [self.itos[i] for i in ids if i >= first]

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        return [t for t in tokens if t not in self.stoi]

    def clean(self, text: str) -> tuple[str, str]:
        """For character vocabularies: fold `text` to ASCII and split it into (kept, dropped) symbols."""
        folded = fold_to_ascii(text)
        kept = "".join(ch for ch in folded if ch in self.stoi and ch not in self.specials)
        dropped = "".join(ch for ch in folded if ch not in self.stoi or ch in self.specials)
        return kept, dropped

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        return cls(data["tokens"], data["specials"])

    def __repr__(self) -> str:
        shown = self.itos[:8] + (["..."] if len(self) > 8 else [])
        return f"Vocab({len(self)}: {' '.join(shown)})"
