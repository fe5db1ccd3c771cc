"""results.json: one typed definition, written by src.train and src.baseline, read by src.compare;
write_json_atomically (results.json whole or not at all) and write_rows (test_predictions.jsonl).

A results.json may come from anyone (a collaborator's run folder, a shared disk), so `Results.read`
takes it as plain data: every field is checked by type and range, and anything else is one
ValueError naming the field. Older runs lack the newer fields: they get the defaults below.
"""

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class Results:
    task: str
    model: str  # the cell (rnn, lstm, gru) or the baseline's name
    overrides: list[str]  # the command line's overrides
    monitor: str  # val/<metric>: what chose the checkpoint (or the baseline's settings)
    best_val: dict[str, float]
    test: dict[str, float]
    train_seconds: float
    params: int | None  # numbers fitted; None where the model is the training set itself (retrieval)
    monitor_mode: str | None = None  # "max" or "min"; None in runs from before it was written
    deterministic: bool = False  # True: fitted without random draws (the baselines): the seed changes nothing
    threads: int | None = None
    run_dir: str | None = None
    by_length: list[dict] = field(default_factory=list)  # the monitored test metric per input length
    # recurrent runs
    epochs: int | None = None
    global_step: int | None = None
    hidden_size: int | None = None
    param_budget: int | None = None
    best_ckpt: str | None = None
    pruned_at: int | None = None  # the epoch after which a study's pruner stopped the run (src/run/study.py)
    # baselines: the settings validation picked
    chosen: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def read(cls, data) -> "Results":
        """A results.json's contents, checked; ValueError("<field>: ...") for anything out of type or range."""
        if not isinstance(data, dict):
            raise ValueError(f"not an object but {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in data.items() if k in known}
        for name in ("task", "model", "overrides", "monitor", "best_val", "test", "train_seconds", "params"):
            if name not in kept:
                raise ValueError(f"no {name}")
        check = {
            "task": text,
            "model": text,
            "monitor": text,
            "overrides": texts,
            "best_val": metrics,
            "test": metrics,
            "train_seconds": seconds,
            "params": count_or_none,
            "monitor_mode": mode,
            "deterministic": boolean,
            "threads": count_or_none,
            "run_dir": text_or_none,
            "by_length": buckets,
            "epochs": count_or_none,
            "global_step": count_or_none,
            "hidden_size": count_or_none,
            "param_budget": count_or_none,
            "best_ckpt": text_or_none,
            "pruned_at": count_or_none,
            "chosen": plain_or_none,
        }
        for name, value in kept.items():
            if not check[name](value):
                raise ValueError(f"{name} is {str(value)[:60]!r}, not what results.json holds there")
        return cls(**kept)


def text(value) -> bool:
    return isinstance(value, str) and len(value) < 10_000


def text_or_none(value) -> bool:
    return value is None or text(value)


def texts(value) -> bool:
    return isinstance(value, list) and all(text(v) for v in value)


def number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metrics(value) -> bool:
    """{"test/acc": 0.81, ...}: names to numbers (NaN allowed: a metric that was never computed)."""
    return isinstance(value, dict) and all(text(k) and number(v) for k, v in value.items())


def seconds(value) -> bool:
    return number(value) and math.isfinite(value) and value >= 0


def count_or_none(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def mode(value) -> bool:
    return value in (None, "min", "max")


def boolean(value) -> bool:
    return isinstance(value, bool)


def buckets(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(b, dict) and all(text(k) and (number(v) or text(v)) for k, v in b.items()) for b in value
    )


def plain_or_none(value) -> bool:
    """Settings as plain data: numbers, strings, booleans, None, and lists or dicts of them."""
    if value is None or isinstance(value, str | bool) or number(value):
        return True
    if isinstance(value, list):
        return all(plain_or_none(v) for v in value)
    return isinstance(value, dict) and all(text(k) and plain_or_none(v) for k, v in value.items())


def write_json_atomically(path: Path, data: dict) -> None:
    """results.json appears whole or not at all: a killed run never looks finished."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_rows(path: Path, rows: list[dict]) -> None:
    """The test predictions, one JSON object a line (see RecurrentTask.rows), before results.json."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
