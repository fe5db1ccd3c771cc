"""Resume through `python -m src.train ... ckpt_path=...` (in-process): a resumed run equals an
uninterrupted one, trains longer when asked, adds its seconds up, follows a moved folder, and refuses
in one line what it cannot honour."""

import json
from pathlib import Path

import pytest
import torch

import src.train

INTERRUPT_AFTER_2 = ["+callbacks.interrupt._target_=tests.conftest.InterruptAfterEpoch", "+callbacks.interrupt.epoch=2"]


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def resume(run: Path, *extra: str) -> list[str]:
    return [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"hydra.run.dir={run}", *extra]


def test_a_resumed_run_equals_an_uninterrupted_one(tiny, tmp_path, run_cli):
    """Dropout, symbol dropout and shuffling all draw from the random state: unless the checkpoint
    restores it, epoch 3 of the resumed run sees other masks and another order."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    argv = [*tiny, "trainer.max_epochs=3", "task.module.dropout=0.3"]
    assert run_cli(src.train, [*argv, f"hydra.run.dir={whole}"]).code == 0
    assert run_cli(src.train, [*argv, f"hydra.run.dir={stopped}", *INTERRUPT_AFTER_2]).code == 1
    assert not (stopped / "results.json").exists()
    assert run_cli(src.train, [*argv, *resume(stopped)]).code == 0

    a, b = results(whole), results(stopped)
    assert b["epochs"] == a["epochs"] == 3
    assert b["test"] == a["test"] and b["best_val"] == a["best_val"]
    last_a, last_b = weights(whole / "checkpoints" / "last.ckpt"), weights(stopped / "checkpoints" / "last.ckpt")
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a)


@pytest.fixture
def finished(tiny, tmp_path, run_cli) -> Path:
    run = tmp_path / "finished"
    assert run_cli(src.train, [*tiny, f"hydra.run.dir={run}"]).code == 0  # 2 epochs
    return run


def test_resuming_a_finished_run_with_more_epochs_trains_longer(finished, tiny, run_cli):
    before = results(finished)
    last = finished / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    for state in ckpt["callbacks"].values():  # as if the first part had trained 1000 s: the sum must show it
        if "train_seconds" in state:
            state["train_seconds"] = 1000.0
    torch.save(ckpt, last)
    result = run_cli(src.train, [*tiny, *resume(finished, "trainer.max_epochs=4")])
    assert result.code == 0, result.err
    after = results(finished)
    assert after["epochs"] == 4 and after["global_step"] == 2 * before["global_step"]
    assert set(after["best_val"]) >= {"val/acc", "val/loss"} and set(after["test"]) == set(before["test"])
    assert 1000 < after["train_seconds"] < 1000 + 10 * before["train_seconds"]  # both parts added up
    assert Path(after["best_ckpt"]).is_file()


def test_resuming_with_another_batch_size_rebuilds_the_schedule(finished, tiny, run_cli):
    result = run_cli(src.train, [*tiny, *resume(finished, "trainer.max_epochs=3", "task.data.batch_size=4")])
    assert result.code == 0, result.err
    assert results(finished)["epochs"] == 3


def test_resuming_a_finished_run_with_the_same_settings_is_refused(finished, tiny, run_cli):
    before = (finished / "results.json").read_text()
    run_cli(src.train, [*tiny, *resume(finished)]).assert_one_clear_line("nothing is left to train", "max_epochs")
    assert (finished / "results.json").read_text() == before  # the record is whole


def test_a_changed_module_option_is_refused_on_resume(finished, tiny, run_cli):
    result = run_cli(src.train, [*tiny, *resume(finished, "trainer.max_epochs=3", "task.module.lr=0.1")])
    result.assert_one_clear_line("task.module.lr=0.003", "resume with those settings")


# Lightning warns that it drops the checkpoint state when the folder moved; RunCheckpoint reads it there
@pytest.mark.filterwarnings("error:The dirpath has changed")
def test_a_moved_run_folder_resumes_and_tests_its_own_best_checkpoint(finished, tiny, tmp_path, run_cli):
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    finished.rename(moved)
    result = run_cli(src.train, [*tiny, *resume(moved, "trainer.max_epochs=3")])
    assert result.code == 0, result.err
    after = results(moved)
    assert after["epochs"] == 3 and Path(after["best_ckpt"]).parent == moved / "checkpoints"
    assert sorted(p.name for p in (moved / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_full_disk_leaves_the_last_whole_checkpoint_and_one_line(tiny, tmp_path, run_cli, monkeypatch):
    """The second epoch's checkpoint hits a full disk half-way: the first epoch's stays whole."""
    import errno

    import lightning.fabric.plugins.io.torch_io as torch_io

    real_save, saves = torch_io._atomic_save, []

    def save(checkpoint, path):
        saves.append(path)
        if len(saves) > 2:  # epoch 1 wrote best.ckpt and last.ckpt
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(checkpoint, path)

    monkeypatch.setattr(torch_io, "_atomic_save", save)
    run = tmp_path / "run"
    run_cli(src.train, [*tiny, f"hydra.run.dir={run}"]).assert_one_clear_line("No space left on device", "resume")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not (run / "results.json").exists()
