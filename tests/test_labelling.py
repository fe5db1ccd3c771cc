"""The per-step tasks: binary (the carry in the hidden state) and hello (the smallest whole run)."""

from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.train
from src.data.binary import BinaryDataModule, decode, draw_operands, encode
from src.train import train
from tests.conftest import compose_cfg
from tests.test_cli import assert_one_clear_line, run_main

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def test_binary_encoding_round_trip_and_course_operands():
    ids, result = encode(39, 17, "add", 8)
    assert decode(ids) == (39, 17) and sum(bit << i for i, bit in enumerate(result)) == 56
    ids, result = encode(209, 17, "sub", 8)
    assert decode(ids) == (209, 17) and sum(bit << i for i, bit in enumerate(result)) == 192
    rng = np.random.default_rng(0)
    a, b = draw_operands(rng, "add", 8, 500)
    assert max(a) < 128 and max(b) < 128
    a, b = draw_operands(rng, "sub", 8, 500)
    assert all(x >= y for x, y in zip(a, b, strict=True)) and max(a) < 256 and max(b) < 128


def test_binary_sets_are_fixed_by_the_seed_and_long_set_is_longer():
    dm1, dm2 = BinaryDataModule(seed=3, test_bits=16), BinaryDataModule(seed=3, test_bits=16)
    dm1.setup(), dm2.setup()
    assert dm1.datasets["val"].tokens.equal(dm2.datasets["val"].tokens)
    assert dm1.datasets["test"].tokens.shape[1] == 8 and dm1.datasets["test_long"].tokens.shape[1] == 16


@pytest.mark.parametrize("op", ["add", "sub"])
def test_binary_rnn_learns_the_carry_and_generalises_to_32_bits(op: str, tmp_path: Path):
    results = train(compose_cfg(["task=binary", "model=rnn", f"task.data.op={op}", *QUIET], tmp_path))
    assert results["best_val"]["val/seq_acc"] == 1.0
    assert results["test"]["test/seq_acc"] == 1.0 and results["test"]["test/seq_acc_long"] >= 0.99
    assert {"test/bit_acc", "test/bit_acc_long", "test/loss_long"} <= set(results["test"])
    events = EventAccumulator(str(tmp_path)).Reload()
    assert "val/bit_acc" in events.Tags()["scalars"]
    text = events.Tensors("val/examples/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert (" + " if op == "add" else " - ") in text and "(right)" in text


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("one_hot", [True, False])
def test_hello_learns_ohlol(cell: str, one_hot: bool, tmp_path: Path):
    overrides = ["task=hello", f"model={cell}", f"task.module.one_hot={one_hot}", *QUIET]
    results = train(compose_cfg(overrides, tmp_path))
    # the loss starts near ln(4) = 1.39; the course saw it under 0.01 with its RNN after 15 epochs
    assert results["test"]["test/seq_acc"] == 1.0 and results["test"]["test/loss"] < 0.5
    text = EventAccumulator(str(tmp_path)).Reload().Tensors("val/examples/text_summary")[-1]
    assert text.tensor_proto.string_val[0].decode() == "hello -> ohlol (target ohlol)"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.data.op=mul", "task.data.op=mul is unknown; use add or sub"),
        ("task.data.bits=0", "task.data.bits=0; give at least 2 bits"),
        ("task.data.test_bits=4", "task.data.test_bits=4 is below bits=8"),
    ],
)
def test_binary_bad_options(override: str, message: str, tmp_path: Path, monkeypatch, capsys):
    argv = ["task=binary", override, f"hydra.run.dir={tmp_path}"]
    code, _, err = run_main(src.train, argv, monkeypatch, capsys)
    assert_one_clear_line(code, err, message)
