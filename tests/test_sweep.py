"""Runs tier: a sweep of three jobs, as `python -m src.train -m model=rnn,lstm,gru` runs it."""

import json
import sys
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.predict
import src.train


def test_sweep_over_cells_gives_one_folder_per_job_named_by_its_override(
    tiny, tmp_path: Path, run_cli, monkeypatch, capsys
):
    GlobalHydra.instance().clear()
    sweep_dir = tmp_path / "sweep"
    argv = ["src.train", "-m", "task=names", "model=rnn,lstm,gru", *tiny, "trainer.max_epochs=1"]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.sweep.dir={sweep_dir}"])
    src.train.main()

    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name.split("_")[0] for p in jobs] == ["0", "1", "2"]
    for job, cell in zip(jobs, ["rnn", "lstm", "gru"], strict=True):
        assert f"model-{cell}" in job.name.split("+"), job.name  # e.g. 0_model.hidden_size-8+model-rnn+...
    for job, cell in zip(jobs, ["rnn", "lstm", "gru"], strict=True):
        assert "=" not in job.name and "," not in job.name  # a path users can paste into ckpt=...
        results = json.loads((job / "results.json").read_text())
        assert results["model"] == cell and f"model={cell}" in results["overrides"]
        assert "val/acc" in EventAccumulator(str(job)).Reload().Tags()["scalars"]
    assert (sweep_dir / "multirun.yaml").is_file()

    # a job's checkpoint path goes on the predict command line as it is, unquoted

    capsys.readouterr()
    code, out, err = run_cli(src.predict, [f"ckpt={jobs[1]}/checkpoints/best.ckpt", "input=Tanaka"])
    assert code == 0, err
    assert out.startswith("Tanaka\t") and out.count(":") == 3
