"""Character vocabularies: text <-> integer ids, saved with the model as a plain string."""

import string
import unicodedata

# The classic names alphabet: ascii_letters + " .,;'" (57 symbols).
NAMES_ALPHABET = string.ascii_letters + " .,;'"


def fold_to_ascii(text: str) -> str:
    """'Bélanger' -> 'Belanger': decompose (NFD) and drop the combining marks."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


class CharVocab:
    """Id 0 is padding; the symbols of `alphabet` take ids 1..len(alphabet), in order."""

    PAD = 0

    def __init__(self, alphabet: str):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet has repeated symbols: {alphabet!r}")
        self.alphabet = alphabet
        self._ids = {ch: i + 1 for i, ch in enumerate(alphabet)}

    def __len__(self) -> int:
        """Number of ids, padding included (the embedding table's size)."""
        return len(self.alphabet) + 1

    def clean(self, text: str) -> tuple[str, str]:
        """Fold `text` to ASCII and split it into (kept symbols, dropped symbols)."""
        folded = fold_to_ascii(text)
        kept = "".join(ch for ch in folded if ch in self._ids)
        dropped = "".join(ch for ch in folded if ch not in self._ids)
        return kept, dropped

    def encode(self, text: str) -> list[int]:
        """Ids of `text`; every symbol must be in the alphabet (clean() it first)."""
        return [self._ids[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.alphabet[i - 1] for i in ids if i != self.PAD)
