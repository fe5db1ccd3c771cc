"""compare's statistics on real (tiny) runs: intervals, pairwise tests, the verdict."""

import json
import shutil
from pathlib import Path

import pytest

from src.compare import compare
from src.train import train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, compose, make_data) -> Path:
    """names x rnn/lstm/gru x seeds 1, 2, 3, tiny."""
    root = tmp_path_factory.mktemp("verdict")
    make_data(root)
    base = [f"paths.data_dir={root / 'data'}", "model.hidden_size=8", "task.module.embedding_dim=4",
            "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
            "trainer.log_every_n_steps=1"]  # fmt: skip
    for cell in ("rnn", "lstm", "gru"):
        for seed in (1, 2, 3):
            train(compose([*base, f"model={cell}", f"seed={seed}"], root / "runs" / f"{cell}_{seed}"))
    return root / "runs"


def test_three_cells_three_seeds_get_intervals_pairwise_p_values_and_a_verdict(sweep: Path):
    report = compare(sweep)
    assert "#### names: 95% intervals" in report and "t over 3 seeds" in report
    rows = [line for line in report.splitlines() if " vs " in line]
    assert len(rows) == 3  # every pair of three cells, once
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] != "n/a" and cells[3] != "n/a"  # Welch over the seeds, paired over the items
    assert "significant below 0.05" in report
    assert "wins** on test/acc" in report or "no significant difference** between" in report
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
    assert "| +0 | n/a | 1.0000 | no significant difference |" in row
    assert "bootstrap over" in report  # one run each: the interval comes from the test items
    assert "**no significant difference** between" in report


def test_single_runs_without_test_items_are_untested_not_tied(sweep: Path, tmp_path: Path):
    """Runs from before test_predictions.jsonl (or baselines): one value each, nothing to test with."""
    for name in ("gru_1", "rnn_1"):
        shutil.copytree(sweep / name, tmp_path / name)
        (tmp_path / name / "test_predictions.jsonl").unlink()
    report = compare(tmp_path)
    assert "untested (one seed each, no test items)" in report
    assert "leads on test/acc, untested against" in report and "no significant difference" not in report
