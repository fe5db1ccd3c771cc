"""Runs tier: the commands a user runs, in-process, on tiny synthetic data."""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.train
from src.data.vocab import NAMES_ALPHABET, PAD
from src.errors import UserError
from src.paths import CONF_DIR
from src.predict import predict
from src.run.build import train

RESULT_KEYS = {"task", "model", "overrides", "best_val", "test", "epochs", "train_seconds", "params", "best_ckpt"}


TASKS = sorted(p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml"))
# addition's untrained model writes up to max_decode_length (1,010) symbols for each of its 4 wide test
# sets (12 s a run); one short test set here (the docs' addition commands, run by test_readme, keep the defaults)
FAST = {"addition": ["task.data.length_bits=[48]", "task.module.max_decode_length=60"]}


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "bf16-true"])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("cell", sorted(p.stem for p in (Path(CONF_DIR) / "model").glob("*.yaml")))
def test_fast_dev_run_every_task_and_cell(
    task: str, cell: str, precision: str, data_dir: Path, tmp_path: Path, compose
):
    """One batch of train, val and test, in full and in mixed precision (CPU autocast: bf16), and with
    bf16 weights (bf16-true: every float the model makes must be bf16; the transformer's positions and
    binary's one-hot inputs were float32). 16-mixed is a GPU's (Lightning makes it bf16-mixed on a CPU,
    with a warning): make gpu-check runs it."""
    overrides = [
        f"task={task}",
        f"model={cell}",
        "trainer=debug",
        f"paths.data_dir={data_dir}",
        "model.hidden_size=8",
        f"trainer.precision={precision}",
        *FAST.get(task, []),
    ]
    results = train(compose(overrides, tmp_path / cell))
    assert results["model"] == cell and results["task"] == task
    assert results["test"] and all(k.startswith("test/") for k in results["test"])
    assert all(math.isfinite(v) for v in results["test"].values()), results["test"]
    assert json.loads((tmp_path / cell / "results.json").read_text())["model"] == cell
    assert yaml.safe_load((tmp_path / cell / "config.yaml").read_text())["trainer"]["precision"] == precision


@pytest.fixture(scope="module")
def trained(tmp_path_factory, compose, make_data) -> dict:
    """One real (tiny) run shared by the tests that read its folder, checkpoint and events."""

    root = tmp_path_factory.mktemp("trained")
    make_data(root)
    overrides = [
        f"paths.data_dir={root / 'data'}",
        "model=lstm",
        "model.hidden_size=8",
        "model.num_layers=2",
        "model.bidirectional=true",
        "task.module.embedding_dim=4",
        "task.data.batch_size=8",
        "trainer.max_epochs=3",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "trainer.accelerator=cpu",
    ]
    return train(compose(overrides, root / "run"))


def test_run_folder_holds_config_checkpoints_events_and_results(trained: dict):
    run = Path(trained["run_dir"])
    results = json.loads((run / "results.json").read_text())
    assert set(results) >= RESULT_KEYS
    assert results["model"] == "lstm" and "model=lstm" in results["overrides"]
    assert 0.0 <= results["best_val"]["val/acc"] <= 1.0 and 0.0 <= results["test"]["test/acc"] <= 1.0
    assert results["epochs"] == 3 and results["params"] > 0
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert Path(results["best_ckpt"]) == (run / "checkpoints" / "best.ckpt").resolve()
    assert "cell: lstm" in (run / "config.yaml").read_text()


def test_tensorboard_events_hold_scalars_confusion_matrix_and_hparams(trained: dict):
    events = EventAccumulator(trained["run_dir"], size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        "train/loss_step",
        "train/loss_epoch",
        "val/loss",
        "val/acc",
        "val/f1",
        "val/acc_best",
        "test/acc",
        "test/f1",
        "test/loss",
    }
    assert expected <= scalars, expected - scalars
    assert len(events.Scalars("val/acc")) == 3  # one a validation epoch
    # log_every_n_steps=1: the step loss at every step, the epoch mean once an epoch
    assert [e.step for e in events.Scalars("train/loss_step")] == list(range(trained["global_step"]))
    assert len(events.Scalars("train/loss_epoch")) == 3
    assert len(events.Images("val/confusion_matrix")) == 3
    hparams = events.PluginTagToContent("hparams")
    # no experiment summary: TensorBoard builds the logdir's from every run (tests/test_tensorboard.py)
    assert set(hparams) == {"_hparams_/session_start_info"}
    assert b"model.cell" in hparams["_hparams_/session_start_info"]


def test_checkpoint_is_self_contained_plain_data(trained: dict):
    ckpt = torch.load(trained["best_ckpt"], map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["spec"]["kind"] == "classification" and hp["spec"]["labels"] == ["Italian", "Japanese", "Russian"]
    assert hp["spec"]["vocab"] == {"tokens": list(NAMES_ALPHABET), "specials": [PAD]}
    assert hp["model"]["cell"] == "lstm" and ckpt["rnnlab"]["task"] == "names"


def test_predict_prints_top_k_languages_per_name(trained: dict, tmp_path: Path, monkeypatch, compose):
    monkeypatch.chdir(tmp_path)  # works from any directory
    [line] = predict({"ckpt": trained["best_ckpt"], "input": "Dostoevsky", "top_k": "2"})
    name, *ranked = line.split("\t")
    assert name == "Dostoevsky" and len(ranked) == 2
    labels = [r.split(":")[0] for r in ranked]
    probs = [float(r.split(":")[1]) for r in ranked]
    assert set(labels) <= {"Italian", "Japanese", "Russian"} and probs == sorted(probs, reverse=True)


def test_predict_reads_an_input_file(trained: dict, tmp_path: Path, compose):
    names = tmp_path / "names.txt"
    names.write_text("Rossi\n\nTanaka\nÉmile\n", encoding="utf-8")
    lines = predict({"ckpt": trained["best_ckpt"], "input_file": str(names)})
    assert [line.split("\t")[0] for line in lines] == ["Rossi", "Tanaka", "Émile"]
    assert all(len(line.split("\t")) == 4 for line in lines)  # default top_k=3


# resumed into another folder on purpose: Lightning says the best-so-far of the old folder is not reloaded
@pytest.mark.filterwarnings("ignore:The dirpath has changed")
def test_interrupted_run_leaves_no_results_and_resumes_from_last_checkpoint(tiny: list[str], tmp_path: Path, compose):
    run = tmp_path / "run"
    interrupt = ["+callbacks.interrupt._target_=tests.conftest.InterruptAfterEpoch", "+callbacks.interrupt.epoch=1"]
    with pytest.raises(SystemExit):  # Lightning's Ctrl-C handling ends the process with status 1
        train(compose([*tiny, "trainer.max_epochs=3", *interrupt], run))
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / "results.json").exists()  # an interrupted run never looks finished

    last = run / "checkpoints" / "last.ckpt"
    results = train(compose([*tiny, "trainer.max_epochs=3", f"ckpt_path={last}"], tmp_path / "resumed"))
    steps_per_epoch = torch.load(last, weights_only=True)["global_step"]
    assert results["epochs"] == 3 and results["global_step"] == 3 * steps_per_epoch
    assert (tmp_path / "resumed" / "results.json").is_file()


def test_resume_from_a_checkpoint_of_other_model_settings_is_refused(trained: dict, tmp_path: Path, compose):
    last = Path(trained["run_dir"]) / "checkpoints" / "last.ckpt"
    overrides = [o for o in trained["overrides"] if not o.startswith("model=")]
    cfg = compose([*overrides, "model=gru", f"ckpt_path={last}"], tmp_path / "other")
    with pytest.raises(UserError, match=r"was trained with model.cell=lstm; resume with those settings"):
        train(cfg)


def test_a_run_ends_naming_its_checkpoint_and_outputs_latest_ckpt_points_at_it(tiny, tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    assert run_cli(src.train, [*tiny, "task.data.path=names/../names"]).code == 0  # a "/" in a value
    [run] = [p for p in (tmp_path / "outputs" / "names").iterdir()]  # one folder, not nested by the "/"
    latest = tmp_path / "outputs" / "latest.ckpt"
    assert latest.is_symlink() and latest.resolve() == (run / "checkpoints" / "best.ckpt").resolve()
    assert not [p for p in (tmp_path / "outputs").iterdir() if p.is_dir() and p.is_symlink()]  # TensorBoard: no twin
    log = (run / "train.log").read_text()
    assert "use it: python -m src.predict ckpt=outputs/latest.ckpt --help" in log


def test_folder_names_never_nest_and_stay_short():
    from src.run.resolvers import fit_name

    assert fit_name("task.data.file-names/Italian.txt") == "task.data.file-names_Italian.txt"
    long = fit_name("x" * 300)
    assert len(long) == 180 and "/" not in long and long != fit_name("x" * 299 + "y")
