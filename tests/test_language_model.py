"""The dinos task: a character language model that scores in nats per symbol and samples names."""

import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.predict
import src.train
from src.data.dinos import VOCAB
from src.data.vocab import END
from src.nn.language_model import CharLanguageModelNet
from src.run.build import train


def test_words_become_boundary_framed_sequences(data_dir: Path, datamodule):
    dm = datamodule("dinos", data_dir)
    dm.setup()
    assert [len(dm.words[s]) for s in ("val", "test")] == [154, 154]
    every = sum(dm.words.values(), [])
    assert "tyrannosaurus" in every and "rex" in every  # lowercased, digit gone
    assert dm.spec.vocab == VOCAB and VOCAB.id(END) == 0 and dm.spec.train_words == sorted(dm.words["train"])
    word = dm.words["train"][0]
    data = dm.datasets["train"]
    n = int(data.lengths[0])
    ids = VOCAB.encode(word)
    assert data.tokens[0, :n].tolist() == [0, *ids] and data.targets[0, :n].tolist() == [*ids, 0]  # END frames it


def test_a_language_model_must_read_left_to_right():
    core = {"cell": "gru", "hidden_size": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": True}
    with pytest.raises(ValueError, match="bidirectional=True: a language model reads left to right"):
        CharLanguageModelNet(27, 8, 0.0, core)


@pytest.fixture(scope="module")
def dinos_run(tmp_path_factory, compose, make_data) -> dict:

    root = tmp_path_factory.mktemp("dinos")
    make_data(root)
    overrides = [
        "task=dinos",
        f"paths.data_dir={root / 'data'}",
        "model.hidden_size=16",
        "trainer.max_epochs=20",
        "task.module.lr=2e-2",
        "trainer.enable_progress_bar=false",
        "task.module.novelty_samples=20",
        "trainer.log_every_n_steps=1",  # the synthetic words are 3 batches an epoch, below dinos' 10
    ]
    return train(compose(overrides, root / "run"))


def test_dinos_run_reports_nats_bits_and_perplexity(dinos_run: dict):
    test = dinos_run["test"]
    assert 0 < test["test/nll"] < math.log(27)  # better than a uniform guess over the 27 symbols
    assert test["test/bpc"] == pytest.approx(test["test/nll"] / math.log(2), rel=1e-5)
    assert test["test/ppl"] == pytest.approx(math.exp(test["test/nll"]), rel=1e-5)
    assert {"val/nll", "val/nll_best", "val/novelty"} <= set(dinos_run["best_val"])


def test_dinos_logs_samples_marked_new_or_seen(dinos_run: dict):
    events = EventAccumulator(dinos_run["run_dir"]).Reload()
    assert {"val/nll", "val/novelty"} <= set(events.Tags()["scalars"])
    text = events.Tensors("val/samples/text_summary")[-1].tensor_proto.string_val[0].decode()
    lines = text.split("\n\n")
    assert len(lines) == 12 and all(line.endswith(("(new)", "(seen)")) for line in lines)


def test_sampling_is_seeded_and_honours_prefix_temperature_and_length(dinos_run: dict, run_cli):
    from src.tasks.checkpoint import load_module, read_checkpoint

    module = load_module(read_checkpoint(dinos_run["best_ckpt"]))
    draw = lambda seed, **kw: module.sample(6, generator=torch.Generator().manual_seed(seed), **kw)  # noqa: E731
    assert draw(1) == draw(1)
    assert all(name.startswith("tyr") for name in draw(2, prefix="tyr"))
    assert all(len(name) <= 5 for name in draw(3, max_length=5))
    assert len(set(draw(4, temperature=0.0))) == 1 and draw(5, top_k=1) == draw(6, temperature=0.0)
    assert all(set(name) <= set(VOCAB.tokens) and name for name in draw(7))  # letters only, never empty

    argv = [f"ckpt={dinos_run['best_ckpt']}", "num_samples=4", "seed=3", "prefix=Tyr"]
    code, out, err = run_cli(src.predict, argv)
    assert code == 0, err
    assert len(out.splitlines()) == 4 and all(line.startswith("tyr") for line in out.splitlines())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["temperature=-0.5"], "temperature=-0.5: not 0 or a positive number; use 0 (greedy) or a positive number"),
        (["temperature=nan"], "temperature=nan: not 0 or a positive number"),
        (["temperature=abc"], "temperature=abc"),
        (["prefix=t-rex"], "outside the model's letters abcdefghijklmnopqrstuvwxyz"),
        (["num_samples=0"], "num_samples=0: not a whole number of at least 1; give how many words"),
        (["top_k=2.5"], "top_k=2.5: not a whole number of at least 1"),
        (["input=Rossi"], "a language model generates: give num_samples="),
        (["beam_size=2"], "beam_size= does not apply to a dinos checkpoint (its options: num_samples="),
    ],
)
def test_sampler_bad_input(options, message, dinos_run: dict, run_cli, one_clear_line):
    code, _, err = run_cli(src.predict, [f"ckpt={dinos_run['best_ckpt']}", *options])
    one_clear_line(code, err, message)


def test_names_checkpoint_given_to_the_sampler(tmp_path, data_dir: Path, compose, run_cli, one_clear_line):
    overrides = [f"paths.data_dir={data_dir}", "model.hidden_size=4", "trainer=debug"]
    train(compose(overrides, tmp_path / "run"))
    argv = [f"ckpt={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "num_samples=5"]
    code, _, err = run_cli(src.predict, argv)
    one_clear_line(code, err, "num_samples= does not apply to a names checkpoint (its options: top_k=)")


@pytest.mark.parametrize(("content", "message"), [("", "has no words"), ("\n \n\n", "has no words")])
def test_empty_or_blank_words_file_is_one_clear_line(content, message, tmp_path, run_cli, one_clear_line):
    (tmp_path / "words.txt").write_text(content, encoding="utf-8")
    argv = ["task=dinos", f"paths.data_dir={tmp_path}", "task.data.file=words.txt", f"hydra.run.dir={tmp_path / 'run'}"]
    code, _, err = run_cli(src.train, argv)
    one_clear_line(code, err, "words.txt", message)


def test_symbols_outside_a_z_are_folded_or_dropped_and_counted(tmp_path):
    from src.data.dinos import read_words

    (tmp_path / "w.txt").write_text("Ärchaeo-Pteryx\nT. rex 2\n", encoding="utf-8")
    words, dropped = read_words(tmp_path / "w.txt")
    assert words == ["archaeopteryx", "trex"] and dropped == {"-": 1, ".": 1, " ": 2, "2": 1}
