"""The pairs task: character seq2seq with attention (the first half of issue 4)."""

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.train
from src.data.pairs import PairsDataModule, read_pairs
from src.errors import UserError
from src.nn.recurrent import RecurrentCore
from src.nn.seq2seq import Seq2SeqNet
from src.train import train
from tests.conftest import compose_cfg
from tests.test_cli import assert_one_clear_line, run_main

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bridge_joins_directions_per_layer(cell: str):
    core = RecurrentCore(cell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    outputs, state = core(torch.randn(5, 6, 3), torch.tensor([6, 5, 4, 3, 2]))
    bridged = core.bridge(state)
    h = bridged[0] if cell == "lstm" else bridged
    assert h.shape == (2, 5, 8)  # (layers, batch, directions * hidden)
    assert torch.allclose(h[-1], core.last_layer_state(state))


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
def test_decoder_step_shapes(attention: str):
    core = {"cell": "lstm", "hidden_size": 5, "num_layers": 1, "dropout": 0.0, "bidirectional": True}
    net = Seq2SeqNet(10, 12, 6, 0.0, core, attention)
    keys, mask, state = net.encode(torch.randint(1, 10, (3, 7)), torch.tensor([7, 4, 2]))
    assert keys.shape == (3, 7, 10) and mask.shape == (3, 7)
    logits, state, context, weights = net.step(
        torch.ones(3, dtype=torch.long), state, net.start_context(keys), keys, mask
    )
    assert logits.shape == (3, 12)
    if attention == "none":
        assert weights is None and context.shape == (3, 0)
    else:
        assert weights.shape == (3, 7) and torch.all(weights[2, 2:] == 0) and context.shape == (3, 10)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_pairs_are_reproduced_and_unseen_words_logged(cell: str, tmp_path: Path):
    results = train(compose_cfg(["task=pairs", f"model={cell}", *QUIET], tmp_path))
    assert results["test"]["test/exact"] == 1.0 and results["test"]["test/bleu"] == 1.0
    text = EventAccumulator(str(tmp_path)).Reload().Tensors("val/probes/text_summary")[-1]
    lines = text.tensor_proto.string_val[0].decode().split("\n\n")
    assert "king -> queen" in lines and any(line.startswith("mans -> ") for line in lines)


def test_pairs_file_skips_bad_lines_and_refuses_an_empty_one(tmp_path: Path):
    (tmp_path / "p.tsv").write_text("cat\tdog\nno tab\n\tempty\nSun\tMoon\n", encoding="utf-8")
    assert read_pairs(tmp_path / "p.tsv") == [("cat", "dog"), ("sun", "moon")]
    (tmp_path / "empty.tsv").write_text("no tabs here\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no word<TAB>word lines"):
        read_pairs(tmp_path / "empty.tsv")
    dm = PairsDataModule(str(tmp_path), file="p.tsv")
    dm.setup()
    assert len(dm.dataset) == 2


def test_unknown_attention_is_one_line(tmp_path, monkeypatch, capsys):
    argv = ["task=pairs", "task.module.attention=foo", f"hydra.run.dir={tmp_path}"]
    code, _, err = run_main(src.train, argv, monkeypatch, capsys)
    assert_one_clear_line(code, err, "task.module.attention=foo is unknown; use one of none, dot, general, additive")


def test_translate_trains_and_scores_against_every_reference(names_dir: Path, tmp_path: Path):
    from src.data.translate import TranslateDataModule

    dm = TranslateDataModule(str(names_dir), val_size=20, test_size=20)
    dm.setup()
    refs = dm.references("test")
    assert len(refs) == 20 and all(isinstance(r, list) and r for r in refs)
    assert dm.spec["joiner"] == " " and dm.spec["src_symbols"][:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    overrides = [
        "task=translate", f"paths.data_dir={names_dir}", "task.data.val_size=20", "task.data.test_size=20",
        "model.hidden_size=16", "task.module.embedding_dim=16", "trainer.max_epochs=2", *QUIET,
    ]  # fmt: skip
    results = train(compose_cfg(overrides, tmp_path))
    assert 0.0 <= results["test"]["test/bleu"] <= 1.0 and 0.0 <= results["test"]["test/exact"] <= 1.0
    text = EventAccumulator(str(tmp_path)).Reload().Tensors("val/probes/text_summary")[-1]
    assert text.tensor_proto.string_val[0].decode().startswith("i see ")


def test_translate_bad_prefix_option(tmp_path, monkeypatch, capsys):
    argv = ["task=translate", "task.data.prefixes=latin", f"hydra.run.dir={tmp_path}"]
    code, _, err = run_main(src.train, argv, monkeypatch, capsys)
    assert_one_clear_line(code, err, "task.data.prefixes=latin; use null or tutorial")
