"""`python -m src.predict` with translate and pairs checkpoints: output lines, beam search, the
attention picture, <unk> warnings and bad input (issue 4)."""

from pathlib import Path

import pytest
import torch

import src.predict
import src.run.build
import src.train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, compose, make_data) -> dict[str, Path]:
    """Real checkpoints from short runs: translate (synthetic pairs), pairs without attention, names."""
    root = tmp_path_factory.mktemp("seq2seq_ckpts")
    make_data(root)
    runs = {
        "translate": [
            "task=translate",
            "task.data.val_size=20",
            "task.data.test_size=20",
            "model.hidden_size=16",
            "task.module.embedding_dim=16",
            "trainer.max_epochs=2",
            "trainer.log_every_n_steps=1",
        ],
        "pairs_plain": ["task=pairs", "task.module.attention=none", "trainer=debug"],
        "names": ["model.hidden_size=4", "trainer=debug"],
    }
    for name, overrides in runs.items():
        src.run.build.train(compose([f"paths.data_dir={root / 'data'}", *overrides, *QUIET], root / name))
    return {name: root / name / "checkpoints" / "last.ckpt" for name in runs}


def test_translate_prints_source_tab_output_per_line_and_draws_the_attention(ckpts, tmp_path, run_cli):
    (tmp_path / "in.txt").write_text("I see two cats.\n\nI see ten one cats!\n", encoding="utf-8")
    plot = tmp_path / "attention.png"
    argv = [f"ckpt={ckpts['translate']}", f"input_file={tmp_path / 'in.txt'}", "beam_size=3", f"attention_plot={plot}"]
    code, out, err = run_cli(src.predict, argv)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["I see two cats.", "I see ten one cats!"]
    assert all(line.count("\t") == 1 for line in lines)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "written to" in err


def test_the_attention_picture_labels_every_output_step_an_unk_too(ckpts, tmp_path, monkeypatch):
    """An output with <unk> (an undertrained model, a vocabulary cut by min_freq) has a row of weights
    for every step, though its text leaves the <unk> out: the picture labels each row, not the text."""
    from src import load
    from src.data.vocab import UNK
    from src.nn.search import Hypothesis

    task = load(ckpts["translate"])
    ids = [task.spec.target.id(UNK), len(task.spec.target.specials), task.spec.target.id(UNK)]
    weights = torch.full((len(ids) + 1, 4), 0.25)
    monkeypatch.setattr(task, "translate", lambda texts, beam_size: [Hypothesis(ids, weights, 0.0) for _ in texts])
    plot = tmp_path / "attention.png"
    lines = task.predict(["I see two cats."], attention_plot=str(plot))
    assert lines[0].startswith("I see two cats.\t") and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_beam_and_greedy_both_answer_and_a_beam_of_one_is_greedy(ckpts, run_cli):
    outputs = {}
    for beam in (None, 1, 4):
        argv = [f"ckpt={ckpts['translate']}", "input='I see three cats .'"] + ([f"beam_size={beam}"] if beam else [])
        code, out, err = run_cli(src.predict, argv)
        assert code == 0, err
        outputs[beam] = out
    assert outputs[None] == outputs[1]  # the checkpoint's beam_size is 1
    assert outputs[4].startswith("I see three cats .\t")


def test_unknown_words_become_unk_with_a_warning(ckpts, run_cli):
    argv = [f"ckpt={ckpts['translate']}", "input='I see zebras .'"]
    code, out, err = run_cli(src.predict, argv)
    assert code == 0, err
    assert "warning: input: 'zebras' not in the training vocabulary, read as <unk>" in err
    assert out.startswith("I see zebras .\t")


@pytest.mark.parametrize("text", ["", "   ", "@#$ 123"])
def test_an_empty_sentence_is_one_line(text, ckpts, run_cli, one_clear_line):
    code, out, err = run_cli(src.predict, [f"ckpt={ckpts['translate']}", f"input='{text}'"])
    one_clear_line(code, err, "is empty once normalised", "give a sentence")
    assert out == ""


@pytest.mark.parametrize(
    ("which", "argv", "message"),
    [
        ("names", ["input=Rossi", "beam_size=2"], "beam_size= does not apply"),
        ("names", ["input='i am cold .'", "expect_task=translate"], "is a names checkpoint, not translate"),
        ("translate", ["num_samples=3"], "num_samples= does not apply"),
        ("translate", ["input=hi", "beam_size=0"], "beam_size=0: not a whole number of at least 1; use 1 (greedy)"),
        ("translate", ["input=hi", "attention_plot=/no/such/folder/a.png"], "folder /no/such/folder does not exist"),
        ("translate", ["input=hi", "attention_plot=PLOT.xyz"], "not an image type matplotlib writes"),
        ("pairs_plain", ["input=mans", "attention_plot=a.png"], "attention=none: there is no attention to plot"),
        # a character vocabulary without <unk>: once warned "read as <unk>" and answered without the symbol
        ("pairs_plain", ["input=ma5n5!"], "'5', '!' not in the training vocabulary, which has no <unk>"),
    ],
)
def test_bad_options_are_one_line(which, argv, message, ckpts, tmp_path, run_cli, one_clear_line):
    argv = [arg.replace("PLOT", str(tmp_path / "plot")) for arg in argv]
    code, out, err = run_cli(src.predict, [f"ckpt={ckpts[which]}", *argv])
    one_clear_line(code, err, message)
    assert out == ""


def test_pairs_without_attention_still_predicts(ckpts, run_cli):
    code, out, err = run_cli(src.predict, [f"ckpt={ckpts['pairs_plain']}", "input=mans"])
    assert code == 0, err
    assert out.startswith("mans\t")
    # spaces between the symbols of a character model are left out, not an unknown symbol (101 + 11)
    code, out, err = run_cli(src.predict, [f"ckpt={ckpts['pairs_plain']}", "input=ma ns"])
    assert code == 0 and err == "", err
    assert out.startswith("ma ns\t")


def test_weights_of_another_shape_are_one_line(ckpts, tmp_path, run_cli, one_clear_line):
    ckpt = torch.load(ckpts["translate"], weights_only=True)
    ckpt["state_dict"]["net.combine.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, tmp_path / "old.ckpt")
    code, _, err = run_cli(src.predict, [f"ckpt={tmp_path / 'old.ckpt'}", "input=hi"])
    one_clear_line(code, err, "weights do not fit Seq2Seq", "retrain it with this version")


def test_a_names_checkpoint_given_to_translate_training_is_one_line(ckpts, tmp_path, run_cli, one_clear_line):
    argv = ["task=translate", f"ckpt_path={ckpts['names']}", f"hydra.run.dir={tmp_path / 'run'}"]
    code, _, err = run_cli(src.train, argv)
    one_clear_line(code, err, "is a names checkpoint; resume it with task=names")
