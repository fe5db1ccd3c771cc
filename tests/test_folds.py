"""k-fold cross-validation (`task.data.folds=K task.data.fold=i`): every item is tested once over the
K runs, the splits stay grouped as the fixed split is, and compare pools the folds as runs."""

import json
import shutil
from pathlib import Path

import pytest

from src.analysis.table import compare
from src.data.dinos import split_words
from src.data.names import split_rows
from src.data.splits import k_fold
from src.errors import UserError
from src.run.build import train


def test_every_unit_is_tested_once_over_the_folds():
    units = list(range(103))
    tested = []
    for fold in range(5):
        train_, val, test = k_fold(units, 5, fold, val=4, seed=0)
        assert sorted(train_ + val + test) == units  # a partition
        assert len(val) == 4 and len(test) in (20, 21)
        tested += test
    assert sorted(tested) == units
    assert k_fold(units, 5, 2, 4, seed=0) == k_fold(units, 5, 2, 4, seed=0)  # the seed fixes it
    assert k_fold(units, 5, 2, 4, seed=0)[2] != k_fold(units, 5, 2, 4, seed=1)[2]


@pytest.mark.parametrize(
    ("folds", "fold", "needle"),
    [(1, 0, "at least 2"), (5, 5, "from 0 to 4"), (5, -1, "from 0 to 4"), (True, 0, "at least 2"), (60, 0, "too few")],
)
def test_bad_folds_are_one_clear_error(folds, fold, needle):
    with pytest.raises(UserError, match=needle):
        k_fold(list(range(100)), folds, fold, val=4, seed=0)


def test_names_folds_keep_every_name_in_one_split():
    rows = [(f"n{i % 40}", "A" if i % 3 else "B") for i in range(120)]  # each name in two languages
    seen = []
    for fold in range(4):
        train_, val, test = split_rows(rows, "grouped", 0.05, 0.1, seed=0, folds=4, fold=fold)
        names = [{n for n, _ in part} for part in (train_, val, test)]
        assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
        seen += sorted(names[2])
    assert sorted(seen) == sorted({n for n, _ in rows})


def test_dinos_folds_test_each_word_once():
    words = [f"w{i}" for i in range(50)] + ["w1", "w2"]  # repeats are dropped first (unique=True)
    tested = [w for fold in range(3) for w in split_words(words, 0, val=3, folds=3, fold=fold)[2]]
    assert sorted(tested) == sorted(set(words))


@pytest.fixture(scope="module")
def fold_runs(tmp_path_factory, compose, make_data) -> Path:
    """rnn and gru on the synthetic dinos, 3 folds each."""
    root = tmp_path_factory.mktemp("folds")
    make_data(root)
    base = [
        "task=dinos",
        f"paths.data_dir={root / 'data'}",
        "model.hidden_size=8",
        "task.module.embedding_dim=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
        "callbacks.inspect=null",
        "task.data.folds=3",
        "task.data.val_size=20",
    ]
    for cell in ("rnn", "gru"):
        for fold in range(3):
            overrides = [*base, f"model={cell}", f"task.data.fold={fold}"]
            # the overrides compare reads from results.json, as a command line's (the fold is a run)
            results = train(compose(overrides, root / "runs" / f"{cell}_{fold}"))
            results["overrides"] = [f"model={cell}", "task.data.folds=3", f"task.data.fold={fold}"]
            (root / "runs" / f"{cell}_{fold}" / "results.json").write_text(json.dumps(results))
    return root / "runs"


def test_compare_pools_the_folds_as_runs(fold_runs: Path):
    report = compare(fold_runs)
    assert "| gru | 3 |" in report and "| rnn | 3 |" in report  # one group per cell, its folds its runs
    row = next(line for line in report.splitlines() if " vs " in line)
    assert "paired over 3 folds (corrected resampled t)" in row


def test_groups_on_other_folds_are_not_compared(fold_runs: Path, tmp_path: Path):
    """gru on folds 0-2 against rnn with one fold's run dropped for another split's: other test sets."""
    for name in ("gru_0", "gru_1", "gru_2", "rnn_0", "rnn_1"):
        shutil.copytree(fold_runs / name, tmp_path / name)
    shutil.copytree(fold_runs / "rnn_1", tmp_path / "rnn_1b")  # rnn tested on folds 0, 1, 1: not gru's folds
    report = compare(tmp_path)
    row = next(line for line in report.splitlines() if " vs " in line)
    assert "untested: not the same test items" in row
