"""`python -m src.inspect` on checkpoints of every kind of task and cell, its statistics against
hand-computed values, its bad input, and the InspectCells callback's TensorBoard evidence (issue 15)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import src.inspect
import src.run.build
from src import load
from src.data.batching import Batch
from src.data.binary import INPUTS as BIT_PAIRS
from src.data.binary import carries
from src.tasks import inspection as ins

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "trainer.accelerator=cpu"]
SMALL = ["model.hidden_size=8", "trainer.max_epochs=1"]
B8 = "task.data.batch_size=8"
RUNS = {  # name: (overrides, an input, the figures expected besides states_1.png and gradient_flow.png)
    "names_lstm": (
        [
            "model=lstm",
            B8,
            "task.module.embedding_dim=4",
            "trainer.log_every_n_steps=1",
            "trainer.gradient_clip_val=1e-6",
        ],
        "Dostoevsky",
        {"gates_1.png", "saturation.png"},
    ),
    "pairs_gru": (["task=pairs", "model=gru", "trainer=debug"], "man", {"gates_1.png", "saturation.png"}),
    "binary_rnn": (
        [
            "task=binary",
            "model=rnn",
            B8,
            "task.data.train_size=64",
            "task.data.val_size=64",
            "task.data.test_size=8",
            "trainer.val_check_interval=null",
            "trainer.log_every_n_steps=1",
        ],
        "39 + 17",
        {"carry.png"},
    ),  # 8 batches, below the 50
    "dinos_gru": (
        ["task=dinos", "model=gru", B8, "task.module.embedding_dim=4", "task.module.novelty_samples=4"],
        "tyrannosaurus",
        {"gates_1.png", "saturation.png"},
    ),
    "hello_lstm": (["task=hello", "model=lstm"], "hello", {"gates_1.png", "saturation.png"}),
    "names_mingru": (
        ["model=mingru", B8, "task.module.embedding_dim=4", "trainer.log_every_n_steps=1"],
        "Dostoevsky",
        {"gates_1.png", "saturation.png"},
    ),
    "pairs_minlstm": (["task=pairs", "model=minlstm", "trainer=debug"], "man", {"gates_1.png", "saturation.png"}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, compose, make_data) -> dict[str, Path]:
    """Run folders of short real runs, one per kind of task, across the three cells."""
    root = tmp_path_factory.mktemp("inspect_runs")
    make_data(root)
    for name, (overrides, _, _) in RUNS.items():
        src.run.build.train(compose([f"paths.data_dir={root / 'data'}", *SMALL, *overrides, *QUIET], root / name))
    return {name: root / name for name in RUNS} | {"data": root / "data"}


@pytest.mark.parametrize("name", list(RUNS))
def test_inspect_writes_the_figures_of_every_task_and_cell(runs, name, run_cli, tmp_path):
    _, text, expected = RUNS[name]
    out = tmp_path / "figs"
    argv = [
        f"ckpt={runs[name] / 'checkpoints' / 'last.ckpt'}",
        f"input={text}",
        f"out={out}",
        f"data_dir={runs['data']}",
    ]
    code, stdout, err = run_cli(src.inspect, argv)
    assert code == 0, err
    written = [Path(line) for line in stdout.splitlines()]
    assert {p.name for p in written} == {"states_1.png", "gradient_flow.png", *expected}
    assert all(p.parent == out and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert "steps of" in err and "gradient" in err


def test_default_folder_is_the_runs_inspect_and_several_checkpoints_share_one_gradient_plot(runs, run_cli, tmp_path):
    ckpts = [runs["dinos_gru"] / "checkpoints" / "last.ckpt", runs["names_lstm"] / "checkpoints" / "last.ckpt"]
    code, stdout, err = run_cli(src.inspect, [f"ckpt={ckpts[0]}", "input=abc", "split=none"])
    assert code == 0, err
    assert {Path(p).parent for p in stdout.splitlines()} == {runs["dinos_gru"] / "inspect"}
    (tmp_path / "in.txt").write_text("abc\n\nabcdef\n")
    argv = [f"ckpt={ckpts[0]},{ckpts[0]}", f"input_file={tmp_path / 'in.txt'}", f"out={tmp_path}", "split=none"]
    code, stdout, err = run_cli(src.inspect, argv)
    assert code == 0, err
    assert {str(Path(p).relative_to(tmp_path)) for p in stdout.splitlines()} == {
        f"{k}_dinos_gru/{f}_{i}.png" for k in (1, 2) for f in ("states", "gates") for i in (1, 2)
    } | {"gradient_flow.png"}
    assert err.count("7 steps of 'abcdef'") == 2  # the longest input, end symbol first


def test_bad_input_is_one_line(runs, run_cli, tmp_path):
    names = runs["names_lstm"] / "checkpoints" / "last.ckpt"
    binary = runs["binary_rnn"] / "checkpoints" / "last.ckpt"
    ckpt = torch.load(names, weights_only=True)
    ckpt["rnnlab"]["module"] = "Transformer"
    torch.save(ckpt, tmp_path / "other.ckpt")
    (tmp_path / "a_file").write_text("")
    cases = [
        ([f"ckpt={tmp_path / 'other.ckpt'}", "input=Dostoevsky"], "not one of this project's"),
        ([f"ckpt={names}", "input=Dost0evsky"], "'0', outside the vocabulary"),
        ([f"ckpt={binary}", "input=39 * 17"], "is not 'a + b'"),
        ([f"ckpt={names}", "input=Dostoevsky", f"out={tmp_path / 'a_file' / 'figs'}"], "cannot be written"),
        ([f"ckpt={names}", "input=Dostoevsky", "split=train"], "split=train"),
        ([f"ckpt={names}"], "input="),
        ([f"ckpt={names}", "input=x", "beam_size=2"], "beam_size= is not an option"),
    ]
    for argv, needle in cases:
        run_cli(src.inspect, argv).assert_one_clear_line(needle)


def test_saturation_shares_match_gates_set_by_their_biases(runs):
    """Weights zeroed, biases +-6 or 0: every gate value is sigmoid(bias) at every step, so a unit's
    share below 0.1 is 1 (bias -6) or 0, and above 0.9 is 1 (bias +6) or 0; a 0 bias (0.5) is neither."""
    task = load(runs["hello_lstm"] / "checkpoints" / "last.ckpt")
    rnn = task.net.core.rnn
    size = task.net.core.hidden_size  # 8
    pattern = torch.tensor([6.0, -6.0, 0.0, 6.0, 6.0, -6.0, 0.0, 0.0])  # per unit, every gate
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.zero_()
            if name.startswith("bias_ih"):
                p.copy_(pattern.repeat(4))  # i, f, g, o
    batch = Batch(torch.tensor([[1, 2, 3, 3, 4], [1, 2, 0, 0, 0]]), torch.tensor([5, 2]), None)
    stats = ins.saturation(task, [batch])
    assert set(stats) == {("core", "layer 1"), ("core", "layer 2")}
    for gates in stats.values():
        assert set(gates) == {"input", "forget", "output"}
        for shares in gates.values():
            assert shares.tolist() == [[0, 1, 0, 0, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0, 0, 0]]
    assert size == len(pattern)


def test_carries_and_the_carry_unit_by_hand(runs):
    assert carries(["11", "10", "00"], "add") == [1, 1, 0]  # 3 + 1 = 4: carries out of bits 0 and 1
    assert carries(["01", "10"], "sub") == [1, 0]  # 2 - 1: borrow out of bit 0, paid back at bit 1
    task = load(runs["binary_rnn"] / "checkpoints" / "last.ckpt")
    sums = [(39, 17), (100, 27), (5, 3), (64, 64)]
    ids = [BIT_PAIRS.encode(f"{(a >> i) & 1}{(b >> i) & 1}" for i in range(8)) for a, b in sums]
    batch = Batch(torch.tensor(ids), torch.tensor([8] * 4), None)
    name, unit, r = ins.probe_unit(task, [batch], task.step_probe().values)  # binary's probe: the carry
    # the same correlation from the module's own outputs (not the replay) and numpy
    with torch.no_grad():
        hidden, _ = task.net.core(torch.nn.functional.one_hot(batch.tokens, 5).float())  # (4, 8, H)
    truth = [c for row in ids for c in carries(BIT_PAIRS.decode(row), "add")]
    r_all = [np.corrcoef(hidden[..., k].flatten().numpy(), truth)[0, 1] for k in range(hidden.shape[-1])]
    assert name == "layer 1" and unit == int(np.nanargmax(np.abs(r_all)))
    assert r == pytest.approx(r_all[unit], abs=1e-5)


def test_training_logs_the_pre_clip_gradient_norm_and_the_cells_in_tensorboard(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(runs["names_lstm"]), size_guidance={"scalars": 0, "images": 0}).Reload()
    norms = [e.value for e in events.Scalars("train/grad_norm")]
    assert len(norms) == events.Scalars("train/loss_step")[-1].step + 1  # every step (log_every_n_steps=1)
    assert min(norms) > 1e-3  # clipped to 1e-6 afterwards: the logged norm is the one before clipping
    assert {"val_cells/saturation", "val_cells/states", "val_cells/gates"} <= set(events.Tags()["images"])
    rnn = EventAccumulator(str(runs["binary_rnn"])).Reload().Tags()["images"]
    assert "val_cells/states" in rnn and "val_cells/saturation" not in rnn  # a plain RNN has no gates


@pytest.mark.parametrize(
    ("name", "argv"), [("names_mingru", ["input=Dostoevsky"]), ("pairs_minlstm", ["input=man", "beam_size=3"])]
)
def test_checkpoints_of_the_minimal_cells_predict(runs, name, argv, run_cli):
    """Step-by-step decoding (beam search over the decoder) runs the parallel-scan cells one step a call."""
    import src.predict

    code, out, err = run_cli(src.predict, [f"ckpt={runs[name]}", *argv])
    assert code == 0, err
    assert out.strip() and "Traceback" not in err


def test_spaces_between_the_symbols_of_a_character_input_are_left_out_as_predict_does(runs, run_cli, tmp_path):
    """`m a n` inspects as `man` (inspect used to refuse the space as a symbol outside the vocabulary)."""
    ckpt = runs["pairs_gru"] / "checkpoints" / "last.ckpt"
    said = []
    for text in ("man", "m a n"):
        code, _, err = run_cli(src.inspect, [f"ckpt={ckpt}", f"input={text}", f"out={tmp_path}", "split=none"])
        assert code == 0, err
        said.append([line.replace(repr(text), "INPUT") for line in err.splitlines() if "steps of" in line])
    assert said[0] and said[0] == said[1]
