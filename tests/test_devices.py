"""Device placement outside Lightning's loop, checked on a CPU-only machine: the model on a second
device (tests/fake_accelerator.py) while the end-of-training callback, predict and inspect run, and
the batch as the module's own `transfer_batch_to_device` moves it (pack lengths stay on the CPU)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

import src.inspect
import src.predict
import src.tasks.checkpoint
import src.train
from src.run.build import build_run
from src.run.callbacks import InspectCells
from src.tasks.base import CHECKPOINT_KEY
from tests.fake_accelerator import ACCELERATOR, DeviceMix, FakeAccelerator

SMALL = ["model.hidden_size=8", "model.num_layers=1", "trainer.accelerator=cpu"]
B8 = "task.data.batch_size=8"
# addition's untrained model writes up to max_decode_length (1,010) symbols for each of 4 wide test sets
SHORT_SUMS = ["task.data.length_bits=[48]", "task.module.max_decode_length=60"]
TASKS = {  # task: (model, overrides, predict arguments, inspect arguments)
    "names": ("lstm", [B8], ["input=Rossi"], ["input=Rossi"]),
    "dinos": ("gru", [B8, "task.module.novelty_samples=4"], ["num_samples=3"], ["input=tyr"]),
    "namegen": ("lstm", [B8], ["language=Italian", "num_samples=2"], ["input=ros", "language=Italian"]),
    "pairs": ("gru", [B8], ["input=man"], ["input=man"]),
    "translate": (
        "lstm",
        [B8, "task.data.val_size=50", "task.data.test_size=50"],
        ["input=I see one cats.", "beam_size=2"],
        ["input=I see one cats.", "split=none"],
    ),  # split=none: its data sizes are the test's own
    "binary": (
        "rnn",
        [B8, "task.data.train_size=64", "task.data.val_size=16", "task.data.test_size=8"],
        ["input=39 + 17"],
        ["input=39 + 17"],
    ),
    "hello": ("gru", [], ["input=hello"], ["input=hello"]),
    "addition": (
        "lstm",
        [B8, "task.data.train_size=64", "task.data.val_size=16", "task.data.test_size=4", *SHORT_SUMS],
        ["input=1010+1100"],
        ["input=1010+1100", "split=none"],
    ),
}


def test_the_fake_accelerator_catches_what_cuda_refuses():
    """The check itself can fail: a CPU input into a model on the accelerator raises, as on a GPU,
    and what CUDA accepts (a moved input, CPU pack lengths, a CPU index) passes."""
    accel = FakeAccelerator()
    embed = accel.place(torch.nn.Embedding(5, 3))
    rnn = accel.place(torch.nn.GRU(3, 4, batch_first=True))
    tokens, lengths = torch.tensor([[1, 2, 3], [4, 1, 0]]), torch.tensor([3, 2])
    with accel:
        with pytest.raises(DeviceMix, match="embedding"):
            embed(tokens)
        x = embed(tokens.to(ACCELERATOR))
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = rnn(packed)
        assert accel.on(out.data) and accel.on(h) and h.device == ACCELERATOR
        with pytest.raises(DeviceMix):
            h.numpy()
        assert h.detach().cpu().numpy().shape == (1, 2, 4)
        assert accel.on(x[torch.tensor([0])])
        with pytest.raises(DeviceMix):
            x + torch.ones(3)


def save_checkpoint(module, task: str, path: Path) -> Path:
    """A checkpoint as src.train writes it (the keys read_checkpoint and load_module read)."""
    ckpt = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        CHECKPOINT_KEY: {"task": task, "module": type(module).__name__, "best": {}},
    }
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("task", list(TASKS))
def test_callbacks_predict_and_inspect_run_with_the_model_on_an_accelerator(
    task, compose, data_dir, tmp_path, run_cli, monkeypatch
):
    model, overrides, predict_args, inspect_args = TASKS[task]
    cfg = compose([f"task={task}", f"model={model}", f"paths.data_dir={data_dir}", *SMALL, *overrides], tmp_path)
    datamodule, module = build_run(cfg)
    ckpt = save_checkpoint(module, task, tmp_path / "model.ckpt")
    accel = FakeAccelerator()
    accel.place(module)
    load = src.tasks.checkpoint.load_module
    monkeypatch.setattr(src.tasks.checkpoint, "load_module", lambda c, device="cpu": accel.place(load(c, device)))

    with accel:
        # the end of training: InspectCells reads validation batches straight from the loader
        logger = TensorBoardLogger(tmp_path / "tb", name="", version="")
        trainer = SimpleNamespace(is_global_zero=True, logger=logger, datamodule=datamodule, global_step=1)
        InspectCells(max_items=16).on_train_end(trainer, module)

        # a batch as Lightning's loop hands it to the step: moved by the DataModule's hook
        batch = datamodule.transfer_batch_to_device(next(iter(datamodule.val_dataloader())), ACCELERATOR, 0)
        lengths = [part for name, part in batch._asdict().items() if name.endswith("lengths")]
        assert lengths and not any(accel.on(t) for t in lengths), "pack lengths stay on the CPU"
        assert accel.on(batch[0])
        module.eval()
        with torch.no_grad():
            assert torch.isfinite(module.step(batch, "val").loss)

        code, out, err = run_cli(src.predict, [f"ckpt={ckpt}", *predict_args])
        assert code == 0 and out.strip(), err

        argv = [f"ckpt={ckpt}", *inspect_args, f"out={tmp_path / 'figs'}", f"data_dir={data_dir}", "max_items=16"]
        code, out, err = run_cli(src.inspect, argv)
        assert code == 0, err
        assert {Path(p).name for p in out.split()} >= {"states_1.png", "gradient_flow.png"}
    logger.experiment.flush()
    assert any((tmp_path / "tb").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("trainers", [["trainer=ddp", "model=rnn,gru"], ["trainer=cpu,ddp"]])
def test_a_local_sweep_of_ddp_runs_is_one_line_before_anything_starts(trainers, tiny, tmp_path, run_cli):
    """Lightning starts a DDP run's other processes by running its command line again: with -m each of
    them would run the whole sweep again."""
    sweep = tmp_path / "sweep"
    argv = ["-m", *tiny, *trainers, "trainer.accelerator=cpu", f"hydra.sweep.dir={sweep}"]
    run_cli(src.train, argv).assert_one_clear_line("trainer=ddp in a sweep", "hydra/launcher=submitit_slurm")
    assert not sweep.exists()


@pytest.mark.parametrize("option", ["trainer.precision=8-mixed", "matmul_precision=low", "trainer.deterministic=maybe"])
def test_precision_options_are_checked_in_one_line(option, tiny, tmp_path, run_cli):
    run_cli(src.train, [*tiny, option, f"hydra.run.dir={tmp_path / 'run'}"]).assert_one_clear_line(option)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with a GPU takes device=cuda")
@pytest.mark.parametrize("entry", [src.predict, src.inspect])
def test_device_cuda_without_a_gpu_is_one_line(entry, compose, data_dir, tmp_path, run_cli):
    _, module = build_run(compose([f"paths.data_dir={data_dir}", *SMALL, B8], tmp_path))
    ckpt = save_checkpoint(module, "names", tmp_path / "model.ckpt")
    for device, needle in (("cuda", "device=cuda but torch sees 0 CUDA GPUs"), ("gpu0", "device=gpu0 is not a device")):
        run_cli(entry, [f"ckpt={ckpt}", "input=Rossi", f"device={device}"]).assert_one_clear_line(needle)
    code, out, err = run_cli(src.predict, [f"ckpt={ckpt}", "input=Rossi", "device=cpu"])
    assert code == 0 and "Rossi" in out, err
