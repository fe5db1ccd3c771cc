"""The speed benchmark runs end to end (on synthetic names) and ends with its JSON line."""

import json
from pathlib import Path

from benchmarks import speed


def test_speed_benchmark_prints_ratios_and_raw_timings(names_dir: Path, capsys):
    result = speed.main([f"paths.data_dir={names_dir}", "model.hidden_size=8", "trainer.enable_progress_bar=false"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == result
    ratios = ("lightning_vs_bare", "speedup_vs_per_example", "speedup_vs_per_example_same_model")
    for key in (*ratios, "bare_epoch_wall_s", "lightning_epoch_wall_s", "threads"):
        assert result[key] > 0, key
    assert result["train_names"] > 0 and result["per_example_sample"] == result["train_names"]
