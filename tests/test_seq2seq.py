"""The pairs task: character seq2seq with attention (the first half of issue 4)."""

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.train
from src.data.pairs import read_pairs
from src.errors import UserError
from src.nn.recurrent import RecurrentCore
from src.nn.seq2seq import Seq2SeqNet
from src.run.build import train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bridge_joins_directions_per_layer(cell: str):
    core = RecurrentCore(cell, input_size=3, hidden_size=4, num_layers=2, dropout=0.0, bidirectional=True)
    outputs, state = core(torch.randn(5, 6, 3), torch.tensor([6, 5, 4, 3, 2]))
    bridged = core.bridge(state)
    h = bridged[0] if cell == "lstm" else bridged
    assert h.shape == (2, 5, 8)  # (layers, batch, directions * hidden)
    assert torch.allclose(h[-1], core.last_layer_state(state))


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_teacher_forced_decoding_in_one_call_equals_step_by_step(cell: str, attention: str):
    torch.manual_seed(0)
    core = {"cell": cell, "hidden_size": 5, "num_layers": 2, "dropout": 0.0, "bidirectional": True}
    net = Seq2SeqNet(10, 12, 6, 0.0, core, attention, pad_id=0).eval()
    memory, state = net.encode(torch.randint(1, 10, (3, 7)), torch.tensor([7, 4, 2]))
    assert memory.keys.shape == (3, 7, 10) and memory.mask.shape == (3, 7)
    target = torch.randint(1, 12, (3, 5))
    logits, _, weights = net.decode(target, state, memory)
    assert logits.shape == (3, 5, 12)
    steps = []
    for t in range(5):
        step_logits, state, step_weights = net.decode(target[:, t : t + 1], state, memory)
        steps.append(step_logits)
        if attention == "none":
            assert weights is None and step_weights is None
        else:
            assert torch.allclose(step_weights[:, 0], weights[:, t], atol=1e-6)
            assert torch.all(step_weights[2, 0, 2:] == 0)  # the third source has 2 real steps
    assert torch.allclose(torch.cat(steps, dim=1), logits, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_pairs_are_reproduced_and_unseen_words_logged(cell: str, tmp_path: Path, compose):
    results = train(compose(["task=pairs", f"model={cell}", *QUIET], tmp_path))
    assert results["test"]["test/exact"] == 1.0 and results["test"]["test/bleu"] == 1.0
    events = EventAccumulator(str(tmp_path)).Reload()
    lines = events.Tensors("val/probes/text_summary")[-1].tensor_proto.string_val[0].decode().split("\n")
    assert lines[0] == "| source | reference | output |" and "| king | - | queen |" in lines
    assert any(line.startswith("| mans | - | ") for line in lines)
    assert "val/attention" in events.Tags()["images"]


def test_pairs_file_skips_bad_lines_and_refuses_an_empty_one(tmp_path: Path, datamodule):
    (tmp_path / "p.tsv").write_text("cat\tdog\nno tab\n\tempty\nSun\tMoon\n", encoding="utf-8")
    assert read_pairs(tmp_path / "p.tsv") == [("cat", "dog"), ("sun", "moon")]
    (tmp_path / "empty.tsv").write_text("no tabs here\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no word<TAB>word lines"):
        read_pairs(tmp_path / "empty.tsv")
    dm = datamodule("pairs", tmp_path, file="p.tsv")
    dm.setup()
    assert len(dm.datasets["train"]) == 2


def test_unknown_attention_is_one_line(tmp_path, run_cli, one_clear_line):
    argv = ["task=pairs", "task.module.attention=foo", f"hydra.run.dir={tmp_path}"]
    code, _, err = run_cli(src.train, argv)
    one_clear_line(code, err, "task.module.attention=foo is unknown; use one of none, dot, general, additive")


def test_translate_trains_and_scores_against_every_reference(data_dir: Path, tmp_path: Path, compose, datamodule):
    from src.data.vocab import SPECIALS

    dm = datamodule("translate", data_dir, val_size=20, test_size=20)
    dm.setup()
    refs = dm.references("test")
    assert len(refs) == 20 and all(isinstance(r, list) and r for r in refs)
    assert dm.spec.joiner == " " and dm.spec.source.specials == list(SPECIALS) and "see" in dm.spec.source
    overrides = [
        "task=translate",
        f"paths.data_dir={data_dir}",
        "task.data.val_size=20",
        "task.data.test_size=20",
        "model.hidden_size=16",
        "task.module.embedding_dim=16",
        "trainer.max_epochs=2",
        *QUIET,
        "trainer.log_every_n_steps=1",  # tiny data: fewer batches than the default interval
    ]
    results = train(compose(overrides, tmp_path))
    assert 0.0 <= results["test"]["test/bleu"] <= 1.0 and 0.0 <= results["test"]["test/exact"] <= 1.0
    # one BLEU: test/bleu is compare's BLEU of the run's own test rows, to the last digit
    from src.analysis.stats import corpus_bleu

    items = [json.loads(line) for line in (tmp_path / "test_predictions.jsonl").read_text().splitlines()]
    bleu = corpus_bleu([r["prediction"] for r in items], [r["references"] for r in items])
    assert results["test"]["test/bleu"] == bleu
    text = EventAccumulator(str(tmp_path)).Reload().Tensors("val/probes/text_summary")[-1]
    rows = text.tensor_proto.string_val[0].decode().split("\n")
    assert len(rows) == 2 + 6 and rows[2].startswith("| i see ")  # header, rule, six sentences with references
    assert all(row.count(" | ") == 2 and "| - |" not in row for row in rows[2:])


def test_translate_bad_prefix_option(tmp_path, run_cli, one_clear_line):
    argv = ["task=translate", "task.data.prefixes=latin", f"hydra.run.dir={tmp_path}"]
    code, _, err = run_cli(src.train, argv)
    one_clear_line(code, err, "task.data.prefixes=latin; use null or tutorial")


def test_without_teacher_forcing_each_step_is_fed_the_previous_guess():
    from src.data.batching import PairBatch
    from src.data.specs import Seq2SeqSpec
    from src.data.vocab import END, PAD, START, Vocab
    from src.tasks.seq2seq import Seq2Seq

    torch.manual_seed(0)
    vocab = Vocab("abcd", specials=[PAD, START, END])
    spec = Seq2SeqSpec(source=vocab, target=vocab, joiner="").to_dict()
    core = {"cell": "gru", "hidden_size": 6, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    options = {
        "attention": "additive",
        "teacher_forcing": 1.0,
        "max_decode_length": 5,
        "beam_size": 1,
        "length_penalty": 1.0,
        "bleu_ngrams": 2,
        "symbol_acc": False,
        "lr": 1e-2,
        "weight_decay": 0.0,
        "lr_schedule": "constant",
    }
    module = Seq2Seq(spec, core, "pairs", embedding_dim=5, dropout=0.0, **options).eval()
    src, tgt = torch.randint(3, 7, (2, 4)), torch.randint(3, 7, (2, 5))
    tgt_in = torch.cat([torch.ones(2, 1, dtype=torch.long), tgt[:, :-1]], dim=1)
    batch = PairBatch(src, torch.tensor([4, 3]), tgt_in, tgt, torch.arange(2))
    own = module(batch, teacher_forcing=0.0)
    memory, state = module.net.encode(batch.src, batch.src_lengths)
    prev, expected = tgt_in[:, :1], []
    for _ in range(5):
        logits, state, _ = module.net.decode(prev, state, memory)
        expected.append(logits)
        prev = logits.argmax(-1)
    assert torch.allclose(own, torch.cat(expected, dim=1), atol=1e-6)
    assert not torch.allclose(own, module(batch, teacher_forcing=1.0), atol=1e-3)  # gold inputs differ


@pytest.mark.parametrize("chunk", [None, 150])
@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_decoding_the_real_steps_alone_equals_the_padded_path_there(cell: str, attention: str, chunk, monkeypatch):
    """chunk: decode_real attends for a piece of items whose largest intermediate fits CHUNK numbers (150:
    one item of 5 target x 7 source steps x width 1, or 4 with additive's width 5, is 35 or 140): the same logits."""
    from src.data.batching import IGNORE
    from src.nn import seq2seq

    pieces = []
    if chunk:
        monkeypatch.setattr(seq2seq, "CHUNK", chunk)
        attend = seq2seq.Attention.forward
        monkeypatch.setattr(
            seq2seq.Attention, "forward", lambda a, q, *rest: pieces.append(len(q)) or attend(a, q, *rest)
        )
    torch.manual_seed(0)
    core = {"cell": cell, "hidden_size": 5, "num_layers": 2, "dropout": 0.0, "bidirectional": True}
    net = Seq2SeqNet(10, 12, 6, 0.0, core, attention, pad_id=0).eval()
    memory, state = net.encode(torch.randint(1, 10, (3, 7)), torch.tensor([7, 4, 2]))
    lengths = torch.tensor([2, 5, 3])  # the longest not first: packing sorts, the output must not
    prev = torch.randint(1, 12, (3, 5))
    target = torch.randint(1, 12, (3, 5)).masked_fill(torch.arange(5) >= lengths.unsqueeze(1), IGNORE)
    padded, _, _ = net.decode(prev, state, memory)  # (3, 5, 12): every step, padding included
    pieces.clear()
    real = net.decode_real(prev, lengths, state, memory)
    assert real.shape == (10, 12)  # 2 + 5 + 3 real steps
    assert torch.allclose(real, padded[target != IGNORE], atol=1e-6)
    if chunk and attention != "none":
        assert pieces == ([1, 1, 1] if attention == "additive" else [3])
    old = torch.nn.functional.cross_entropy(padded.flatten(0, 1), target.flatten(), ignore_index=IGNORE)
    new = torch.nn.functional.cross_entropy(real, target[target != IGNORE])
    assert torch.allclose(old, new, atol=1e-6)
