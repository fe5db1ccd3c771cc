"""Sequence to sequence without generating anything: answer with the target of the most similar
training source (TF-IDF cosine over 1..n-grams of words for translate, of characters for pairs).

Scored as the Seq2Seq task scores its outputs: the project's one BLEU (src.analysis.stats.corpus_bleu, sacrebleu's)
over space-joined tokens (characters for pairs) against every reference of the item, and `exact`,
the share of outputs equal to one of the references. The n of the n-grams is picked on val/bleu.
"""

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from sklearn.feature_extraction.text import TfidfVectorizer

from src.analysis.stats import corpus_bleu
from src.baselines import Outcome, choose, prepared_datamodule
from src.data.translate import TUTORIAL_PREFIXES, filter_pairs, read_pairs, split_pairs

log = logging.getLogger(__name__)

TASKS = ("translate", "pairs")

Split = list[tuple[str, list[str]]]  # (source, every reference)


def read_splits(cfg: DictConfig) -> tuple[list[tuple[str, str]], Split, Split]:
    """(train pairs, val, test) as the task's DataModule cuts them."""
    datamodule = prepared_datamodule(cfg.task.data)
    if cfg.task.name == "pairs":  # the course's toy trains, validates and tests on the same pairs
        pairs = list(datamodule.pairs)
        return pairs, [(a, [b]) for a, b in pairs], [(a, [b]) for a, b in pairs]
    data = cfg.task.data
    pairs, _ = read_pairs(Path(data.data_dir) / data.file, data.reverse)
    prefixes = TUTORIAL_PREFIXES if data.prefixes == "tutorial" else None
    kept = filter_pairs(pairs, data.max_length, prefixes, english=1 if data.reverse else 0)
    return split_pairs(kept, data.split, data.val_size, data.test_size, data.split_seed)


class NearestSource:
    """The target of the training source with the highest TF-IDF cosine (the first such source on a tie)."""

    def __init__(self, train: list[tuple[str, str]], analyzer: str, ngram_max: int):
        targets = {}
        for source, target in train:  # a source with several translations answers with its first one
            targets.setdefault(source, target)
        self.sources, self.targets = list(targets), list(targets.values())
        if analyzer == "char":
            self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), lowercase=False)
        else:  # the sentences are already normalised, space-separated tokens: keep "." "!" "?" and 1-letter words
            self.vectorizer = TfidfVectorizer(
                tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, ngram_max)
            )
        self.matrix = self.vectorizer.fit_transform(self.sources)  # (sources, features), rows of unit length

    def __call__(self, sources: list[str], chunk: int = 256) -> list[str]:
        nearest = []
        for start in range(0, len(sources), chunk):  # (chunk, train sources) of similarities at a time
            similarity = self.vectorizer.transform(sources[start : start + chunk]) @ self.matrix.T
            nearest.extend(np.asarray(similarity.argmax(axis=1)).ravel().tolist())
        return [self.targets[i] for i in nearest]


def scores(outputs: list[str], items: Split, prefix: str, bleu_ngrams: int, chars: bool) -> dict[str, float]:
    """BLEU and exact match as the Seq2Seq task computes them, over space-joined tokens."""

    def tokens(text: str) -> str:
        return " ".join(text if chars else text.split())

    hyps = [tokens(out) for out in outputs]
    refs = [[tokens(ref) for ref in references] for _, references in items]
    exact = float(np.mean([hyp in ref for hyp, ref in zip(hyps, refs, strict=True)]))
    return {f"{prefix}/bleu": corpus_bleu(hyps, refs, bleu_ngrams), f"{prefix}/exact": exact}


def evaluate(cfg: DictConfig) -> Outcome:
    train, val, test = read_splits(cfg)
    chars = cfg.task.name == "pairs"
    bleu_ngrams = int(cfg.task.module.bleu_ngrams)
    tried = []
    for ngram_max in cfg.baseline.ngram_max:
        model = NearestSource(train, "char" if chars else "word", int(ngram_max))
        outputs = model([source for source, _ in val])
        tried.append({"ngram_max": int(ngram_max), **scores(outputs, val, "val", bleu_ngrams, chars)})
        log.info("retrieval: %s", tried[-1])
    best = choose(tried, "val/bleu", "max")
    model = NearestSource(train, "char" if chars else "word", best["ngram_max"])
    outputs = model([source for source, _ in test])
    examples = ["| source | reference | output |", "|---|---|---|"] + [
        f"| {source} | {' / '.join(refs)} | {out} |" for (source, refs), out in zip(test[:8], outputs, strict=False)
    ]
    tokens = (lambda text: " ".join(text)) if chars else (lambda text: " ".join(text.split()))  # noqa: E731
    rows = []
    for (source, refs), out in zip(test, outputs, strict=True):
        references = [tokens(r) for r in refs]
        rows.append(
            {
                "set": "",
                "input": source,
                "target": references[0],
                "prediction": tokens(out),
                "length": len(source if chars else source.split()),
                "references": references,
                "exact": float(tokens(out) in references),
            }
        )
    return Outcome(
        val={k: v for k, v in best.items() if k.startswith("val/")},
        test=scores(outputs, test, "test", bleu_ngrams, chars),
        rows=rows,
        params=None,
        chosen={"ngram_max": best["ngram_max"]},
        tried=tried,
        examples=["\n".join(examples)],
    )
