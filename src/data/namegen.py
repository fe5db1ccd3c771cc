"""Surnames to generate for a given language (the PyTorch tutorial series' "generating names with a
character-level RNN", conditioned on the language): the names data, read and split as the names
task reads and splits it, as a conditional character language model.

Each name becomes [<Language>, n, a, m, e] -> [n, a, m, e, END]: the language's token is the first
input, so the recurrent state carries the language into every step.
"""

import logging

from src.data.dinos import language_model_datasets
from src.data.names import NamesDataModule
from src.data.specs import LanguageModelSpec
from src.data.vocab import END, NAMES_ALPHABET, Vocab

log = logging.getLogger(__name__)


class NameGenDataModule(NamesDataModule):
    """Names by language, as a language model's words; `spec.conditions` are the languages."""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rows, dropped = self.labelled_names()
        languages = sorted({language for _, language in rows})
        self.cut(rows, dropped)
        token = LanguageModelSpec.condition_token
        vocab = Vocab([*NAMES_ALPHABET, *(token(lang) for lang in languages)], specials=[END])
        train_names = sorted({name for name, _ in self.rows["train"]})
        self.spec = LanguageModelSpec(vocab=vocab, train_words=train_names, conditions=languages)
        words = {split: [name for name, _ in part] for split, part in self.rows.items()}
        starts = {split: vocab.encode(token(lang) for _, lang in part) for split, part in self.rows.items()}
        self.datasets = language_model_datasets(words, vocab, starts)
        sizes = " / ".join(f"{k} {len(v)}" for k, v in self.rows.items())
        log.info(
            "namegen: %d names from %s in %d languages; split %s (seed %d): %s; dropped %s",
            len(rows),
            self.source_path,
            len(languages),
            self.split,
            self.split_seed,
            sizes,
            dict(dropped) or "nothing",
        )
