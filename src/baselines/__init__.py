"""Baselines: models without recurrence that tell what the recurrent cells are worth on each task.

One file per kind, each with `TASKS` (the tasks it applies to) and `evaluate(cfg) -> Outcome`, which
reads the task's data exactly as its DataModule splits it, picks its settings on the validation
split and scores the test split with the task's own metric keys, one row per test item as the
recurrent runs write them. `python -m src.baseline` (src/baseline.py)
turns an Outcome into a run folder.
"""

from dataclasses import dataclass, field

from omegaconf import DictConfig

from src.run.build import build


@dataclass
class Outcome:
    val: dict[str, float]  # validation metrics of the chosen settings ("val/acc", ...)
    test: dict[str, float]  # test metrics under the task's keys ("test/acc", "test/seq_acc_long", ...)
    params: int | None  # numbers fitted; None where the model is the training set itself (retrieval)
    chosen: dict = field(default_factory=dict)  # the settings picked on validation
    tried: list[dict] = field(default_factory=list)  # every candidate: its settings and validation score
    examples: list[str] = field(default_factory=list)  # a few test items and the baseline's answers (markdown)
    # one dict per test item in the recurrent runs' row format (RecurrentTask.rows, with "set"): the
    # run's test_predictions.jsonl, which compare's item tests and per-length results read
    rows: list[dict] = field(default_factory=list)


def prepared_datamodule(data: DictConfig):
    """The task's DataModule, prepared and set up: the files are found (or downloaded) and checked with
    the same messages as a training run, and whatever splits it exposes as plain data can be read."""
    datamodule = build(data, "task.data")
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def choose(tried: list[dict], key: str, mode: str) -> dict:
    """The candidate with the best `key` ("max" or "min"); the first one on a tie."""
    best = max if mode == "max" else min
    return best(tried, key=lambda candidate: candidate[key])
