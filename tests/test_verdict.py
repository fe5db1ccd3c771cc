"""compare's statistics: intervals, tests over runs, the verdict, on real (tiny) runs and on an A/A
calibration (groups of one setting must not come out different)."""

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from src.analysis.table import compare
from src.analysis.verdict import Sample, verdicts
from src.run.build import train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, compose, make_data) -> Path:
    """names x rnn/lstm/gru x seeds 1, 2, 3, tiny."""
    root = tmp_path_factory.mktemp("verdict")
    make_data(root)
    base = [
        f"paths.data_dir={root / 'data'}",
        "model.hidden_size=8",
        "task.module.embedding_dim=4",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
    ]
    for cell in ("rnn", "lstm", "gru"):
        for seed in (1, 2, 3):
            train(compose([*base, f"model={cell}", f"seed={seed}"], root / "runs" / f"{cell}_{seed}"))
    return root / "runs"


def test_three_cells_three_seeds_get_intervals_pairwise_p_values_and_a_verdict(sweep: Path):
    report = compare(sweep)
    assert "#### names: 95% intervals" in report and "t over 3 runs" in report
    rows = [line for line in report.splitlines() if " vs " in line]
    assert len(rows) == 3  # every pair of three cells, once
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "Welch over runs (3 vs 3)" and cells[3] != "n/a"  # a test over runs, never items
        assert " [" in cells[1]  # the difference with its interval
        assert cells[5].startswith(("**", "equivalent within", "inconclusive"))
    assert "the unit is the training run; family: the 3 pair(s) tested of 3 groups" in report
    assert "ranks first on test/acc" in report
    # the interval is around the mean of the three seeds
    acc = [json.loads((sweep / f"gru_{s}" / "results.json").read_text())["test"]["test/acc"] for s in (1, 2, 3)]
    assert f"| gru | 3 | {sum(acc) / 3:.4f} [" in report
    # accuracy per name length, the mean of the seeds' by_length, as a table and a figure
    assert "#### names: test acc by input length (mean over seeds)" in report
    assert (sweep / "lengths.png").stat().st_size > 5_000
    written = (sweep / "report.md").read_text()
    assert "## Setup" in written and "names gru: 3 run(s)" in written and "verdict on test/acc" in written
    assert "![by input length](lengths.png)" in written


def test_two_identical_runs_are_no_different(sweep: Path, tmp_path: Path):
    """One run copied under another cell's name: the same predictions, item by item."""
    shutil.copytree(sweep / "gru_1", tmp_path / "a")
    shutil.copytree(sweep / "gru_1", tmp_path / "b")
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    (tmp_path / "b" / "results.json").write_text(json.dumps({**results, "model": "lstm"}))
    report = compare(tmp_path)
    row = next(line for line in report.splitlines() if " vs " in line)
    assert "| +0 [+0, +0] | paired over" in row and "| 1.0000 |" in row
    assert "equivalent within ±0.005 on these test items (one run each: these two trained models" in row
    assert "bootstrap over" in report  # one run each: the interval comes from the test items


def test_single_runs_without_test_items_are_untested_not_tied(sweep: Path, tmp_path: Path):
    """Runs from before test_predictions.jsonl (or baselines): one value each, nothing to test with."""
    for name in ("gru_1", "rnn_1"):
        shutil.copytree(sweep / name, tmp_path / name)
        (tmp_path / name / "test_predictions.jsonl").unlink()
    report = compare(tmp_path)
    assert "untested: one run each, no test items" in report
    assert "**not settled** against" in report and "better**" not in report


def simulated_runs(rng, difficulty: np.ndarray, runs: int) -> np.ndarray:
    """Test accuracies of `runs` training runs of one setting on one test set: every run answers the
    same items, hard and easy ones (`difficulty`: the items' logits), a seed moves all its answers (a
    run effect of 0.15 in logits) and some items one way or the other (0.5): the items' agreement and
    the seeds' spread of real runs, so that items pooled over seeds look like far more evidence than
    the runs are."""
    items = len(difficulty)
    logits = difficulty + rng.normal(0, 0.15, (runs, 1)) + rng.normal(0, 0.5, (runs, items))
    return (rng.random((runs, items)) < 1 / (1 + np.exp(-logits))).mean(1)


@pytest.mark.parametrize("sizes", [(3, 3), (5, 5), (3, 8), (4, "fixed")])
def test_aa_groups_of_one_setting_are_called_different_at_most_at_the_test_level(sizes):
    """1000 A/A comparisons: both groups drawn from one setting (or a fixed value at that setting's
    true mean). A valid 5% test calls them different about 5% of the time; pooling items over seeds
    called 32% of real dinos splits different."""
    rng = np.random.default_rng(1)
    n_a, n_b = sizes
    different = 0
    for _ in range(1000):
        test_set = rng.normal(1.0, 1.5, 300)  # 300 test items, hard and easy
        a = Sample("a", simulated_runs(rng, test_set, n_a).tolist())
        if n_b == "fixed":  # the setting's mean, as a deterministic model would score it
            b = Sample("b", [float(np.mean(simulated_runs(rng, test_set, 400)))], fixed=True)
        else:
            b = Sample("b", simulated_runs(rng, test_set, n_b).tolist())
        [pair] = verdicts([a, b], higher=True, margin=0.005)
        different += pair.outcome in ("better", "worse")
        if pair.outcome == "inconclusive":  # the planner asks for more runs than were tested, or says none do
            assert pair.needed is None or pair.needed > n_a
    assert different / 1000 <= 0.06


def test_aa_cross_validated_groups_of_one_setting():
    """1000 A/A comparisons on 10 folds: the folds differ in difficulty (shared by both groups), the
    runs by their seed; the corrected test over folds calls them different at most at its level."""
    rng = np.random.default_rng(3)
    different = 0
    for _ in range(1000):
        fold_nll = rng.normal(1.6, 0.05, 10)  # some folds are harder than others
        a = {str(k): float(v) for k, v in enumerate(fold_nll + rng.normal(0, 0.01, 10))}
        b = {str(k): float(v) for k, v in enumerate(fold_nll + rng.normal(0, 0.01, 10))}
        samples = [Sample(name, list(v.values()), by_test_set=v) for name, v in (("a", a), ("b", b))]
        [pair] = verdicts(samples, higher=False, margin=0.01)
        assert pair.scope == "folds"
        different += pair.outcome in ("better", "worse")
    assert different / 1000 <= 0.06


def test_a_real_difference_between_settings_is_found():
    """The other side of the calibration: a shift of 6 points of accuracy with 8 runs each is found,
    a shift of 0.1 point with a margin of 0.5 point is called equivalent with enough runs."""
    rng = np.random.default_rng(2)
    found = 0
    for _ in range(100):
        test_set = rng.normal(1.0, 1.5, 300)
        a, b = simulated_runs(rng, test_set, 8), simulated_runs(rng, test_set, 8) + 0.06
        [pair] = verdicts([Sample("a", a.tolist()), Sample("b", b.tolist())], higher=True, margin=0.005)
        found += pair.outcome == "better" and pair.better == "b"
    assert found >= 80
    a, b = rng.normal(0.80, 0.002, 40), rng.normal(0.801, 0.002, 40)
    [pair] = verdicts([Sample("a", a.tolist()), Sample("b", b.tolist())], higher=True, margin=0.005)
    assert pair.outcome == "equivalent"


@pytest.fixture(scope="module")
def six_seeds(tmp_path_factory, compose, shared_data) -> Path:
    """Six seeds of one tiny dinos setting on the real data (154 test names, NLL per name)."""
    root = tmp_path_factory.mktemp("aa")
    base = [
        "task=dinos",
        f"paths.data_dir={shared_data}",
        "model.hidden_size=16",
        "task.module.embedding_dim=8",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "callbacks.inspect=null",
    ]
    for seed in range(1, 7):
        train(compose([*base, f"seed={seed}"], root / f"s{seed}"))
    return root


@pytest.mark.slow
def test_aa_real_runs_of_one_setting_split_in_two_are_never_called_better(six_seeds: Path, tmp_path: Path):
    """Every split of six seeds of one setting into three against three (10 splits): the old verdict,
    items pooled over seeds, called one half better than the other in 9 of the 10."""
    seeds = sorted(p.name for p in six_seeds.iterdir())
    for k, half in enumerate(c for c in itertools.combinations(seeds, 3) if seeds[0] in c):
        split = tmp_path / str(k)
        for seed in seeds:
            shutil.copytree(six_seeds / seed, split / seed)
            if seed not in half:  # the other half under another name: compare groups by the model
                results = json.loads((split / seed / "results.json").read_text())
                (split / seed / "results.json").write_text(json.dumps({**results, "model": "lstm"}))
        report = compare(split)
        row = next(line for line in report.splitlines() if " vs " in line)
        verdict_cell = row.strip("|").split("|")[-1]
        assert "Welch over runs (3 vs 3)" in row and "better" not in verdict_cell, row


@pytest.mark.parametrize(
    ("key", "share"),
    [
        ("test/seq_acc_long", True),
        ("test/exact_64bit", True),  # addition's and binary's test widths: still shares
        ("test/symbol_acc_500bit", True),
        ("test/bleu_greedy", True),
        ("test/exact_greedy", True),
        ("test/loss_64bit", False),
        ("test/nll", False),
        ("test/ppl_long", False),
    ],
)
def test_shares_are_known_by_their_name_without_the_test_sets_suffix(key, share):
    """A share's interval is kept within [0, 1]; `test/exact_64bit` was not known as one."""
    from src.analysis.verdict import is_share

    assert is_share(key) is share
