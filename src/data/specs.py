"""What a DataModule tells the model: one small dataclass per kind of problem.

A DataModule builds its spec at setup(); train.py hands `spec.to_dict()` (plain data) to the task,
which saves it in every checkpoint and rebuilds the spec with `spec_from_dict`. Vocabularies travel
as their tokens (see Vocab.to_dict). `test_sets` names the test dataloaders by the suffix their
metrics get: ("", "_long") -> test/seq_acc and test/seq_acc_long.
"""

import dataclasses
from dataclasses import dataclass, field

from src.data.vocab import Vocab


@dataclass(kw_only=True)
class Spec:
    kind = ""  # the key of this class in SPEC_KINDS (a class attribute, not a field)
    test_sets: tuple[str, ...] = ("",)

    def to_dict(self) -> dict:
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, Vocab) else _plain(value)
        return out

    def summary(self) -> str:
        """One line for the log: sizes, and the first few labels."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Vocab):
                parts.append(f"{f.name}={value!r}")
            elif isinstance(value, list | tuple) and len(value) > 5:
                parts.append(f"{f.name}={len(value)} [{', '.join(map(str, value[:5]))}, ...]")
            else:
                parts.append(f"{f.name}={value}")
        return ", ".join(parts)


def _plain(value):
    return list(_plain(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(kw_only=True)
class ClassificationSpec(Spec):
    """A sequence of `vocab` symbols -> one of `labels` (names: a surname -> its language)."""

    kind = "classification"
    vocab: Vocab  # specials: PAD
    labels: list[str]
    label_counts: list[int] = field(default_factory=list)  # training items per label (the class prior)


@dataclass(kw_only=True)
class LanguageModelSpec(Spec):
    """Predict the next symbol of `vocab` (dinos: letters and END). `train_words` tells samples
    that are new from ones seen in training. With `conditions` (namegen: languages), every word
    starts with its condition's token (`condition_token`, in the vocabulary, never generated)
    instead of END, so the model generates for a condition it is given."""

    kind = "language_model"
    vocab: Vocab  # specials: END, the boundary: first input and last target of every word
    train_words: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    @staticmethod
    def condition_token(condition: str) -> str:
        return f"<{condition}>"


@dataclass(kw_only=True)
class LabellingSpec(Spec):
    """A label of `outputs` for every step of a sequence of `inputs` (binary: a result bit per bit
    pair; hello: the next letter). `codec` says how predict reads raw text and writes the answer
    (see src/data/codecs.py)."""

    kind = "labelling"
    inputs: Vocab  # specials: PAD
    outputs: Vocab  # no specials: the class ids
    codec: str = "symbols"


@dataclass(kw_only=True)
class Seq2SeqSpec(Spec):
    """A sequence of `source` tokens -> a sequence of `target` tokens (pairs: characters; translate:
    words). `joiner` joins output tokens ("" characters, " " words); `normalize` names how raw text
    becomes the training data's form at predict time; `probes` are inputs shown in TensorBoard at
    each validation, with their `probe_references` when known."""

    kind = "seq2seq"
    source: Vocab  # specials: PAD, START, END (and UNK for words)
    target: Vocab
    joiner: str = " "
    normalize: str = "strip"
    probes: list[str] = field(default_factory=list)
    probe_references: list[list[str]] = field(default_factory=list)


SPEC_KINDS: dict[str, type[Spec]] = {
    cls.kind: cls for cls in (ClassificationSpec, LanguageModelSpec, LabellingSpec, Seq2SeqSpec)
}


def spec_from_dict(data: dict) -> Spec:
    """The spec saved by `Spec.to_dict` (the kind through SPEC_KINDS, never a path to import)."""
    cls = SPEC_KINDS.get(data.get("kind")) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"not a saved spec: kind {data.get('kind') if isinstance(data, dict) else data!r}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            values[f.name] = Vocab.from_dict(value) if f.type is Vocab else value
    if "test_sets" in values:
        values["test_sets"] = tuple(values["test_sets"])
    return cls(**values)
