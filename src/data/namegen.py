"""Surnames to generate for a given language (the PyTorch tutorial series' "generating names with a
character-level RNN", conditioned on the language): the names data, read and split as the names
task reads and splits it, as a conditional character language model.

Each name becomes [<Language>, n, a, m, e] -> [n, a, m, e, END]: the language's token is the first
input, so the recurrent state carries the language into every step.
"""

import logging

from src.data.dinos import language_model_datasets
from src.data.names import NamesDataModule, split_rows
from src.data.specs import LanguageModelSpec
from src.data.vocab import END, NAMES_ALPHABET, Vocab
from src.errors import UserError

log = logging.getLogger(__name__)


class NameGenDataModule(NamesDataModule):
    """Names by language, as a language model's words; `spec.conditions` are the languages."""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rows, dropped = self.labelled_names()
        languages = sorted({language for _, language in rows})
        train, val, test = split_rows(rows, self.split, self.val_fraction, self.test_fraction, self.split_seed)
        for part, name in ((train, "train"), (val, "val"), (test, "test")):
            if not part:
                raise UserError(f"the {name} split of {self.source_path} is empty; use a larger file or fractions")
        self.rows = {"train": train, "val": val, "test": test}
        token = LanguageModelSpec.condition_token
        vocab = Vocab([*NAMES_ALPHABET, *(token(lang) for lang in languages)], specials=[END])
        self.spec = LanguageModelSpec(vocab=vocab, train_words=sorted({n for n, _ in train}), conditions=languages)
        words = {split: [name for name, _ in part] for split, part in self.rows.items()}
        starts = {split: vocab.encode(token(lang) for _, lang in part) for split, part in self.rows.items()}
        self.datasets = language_model_datasets(words, vocab, starts)
        log.info(
            "namegen: %d names from %s in %d languages; split %s (seed %d): train %d / val %d / test %d; dropped %s",
            len(rows), self.source_path, len(languages), self.split, self.split_seed, len(train), len(val),
            len(test), dict(dropped) or "nothing",
        )  # fmt: skip
