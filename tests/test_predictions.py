"""Every run writes test_predictions.jsonl, one row per test item, whose per-item values average to
the test metrics the run logged (what compare's paired tests and per-length results rely on)."""

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.analysis.stats import weighted_mean
from src.run.build import train

# task -> (extra overrides, the test metrics that are means over items)
SMALL_BINARY = ["task.data.train_size=64", "task.data.val_size=32", "task.data.test_size=40"]
CASES = {
    "names": ([], ["acc"]),
    "dinos": ([], ["nll"]),
    "binary": ([*SMALL_BINARY, "trainer.val_check_interval=1"], ["bit_acc", "seq_acc"]),
    "pairs": (["task.data.passes=1"], ["exact"]),
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_rows_average_to_the_logged_test_metrics(task: str, data_dir: Path, tmp_path: Path, compose):
    extra, metrics = CASES[task]
    overrides = [
        f"task={task}",
        f"paths.data_dir={data_dir}",
        "model.hidden_size=8",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",  # tiny data: fewer batches than the default interval
        *extra,
    ]
    results = train(compose(overrides, tmp_path / "run"))
    rows = [json.loads(line) for line in (tmp_path / "run" / "test_predictions.jsonl").read_text().splitlines()]
    for row in rows:
        assert {"set", "input", "target", "prediction", "loss", "length"} <= set(row)
        assert row["input"] and row["length"] >= 1
    for suffix in {row["set"] for row in rows}:
        part = [r for r in rows if r["set"] == suffix]
        for metric in metrics:
            weights = [r.get(f"{metric}_weight", 1) for r in part]
            logged = results["test"][f"test/{metric}{suffix}"]
            assert weighted_mean([r[metric] for r in part], weights) == pytest.approx(logged, abs=1e-5), metric
    if task == "binary":  # every test set, every item: 8 bits as trained, the long set, length_bits
        sets = ("", "_long", "_16bit", "_64bit", "_128bit")
        assert [sum(r["set"] == s for r in rows) for s in sets] == [40] * 5
        assert sorted({r["length"] for r in rows}) == [8, 16, 32, 64, 128]
        a, b = map(int, next(r for r in rows if r["length"] == 128)["input"].split(" + "))
        assert a < 2**127 and b < 2**127 and max(a, b) >= 2**62  # wider than numpy's int64 draws
        # the monitored metric per operand width, in results.json and as a TensorBoard picture (not scalars:
        # the HPARAMS table took the last bucket's value as a metric column)
        assert [b["longest"] for b in results["by_length"]] == [8, 16, 32, 64, 128]
        events = EventAccumulator(str(tmp_path / "run")).Reload()
        assert "test/seq_acc_by_length" in events.Tags()["images"]
        assert not any("by_length" in tag for tag in events.Tags()["scalars"])
