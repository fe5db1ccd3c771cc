"""Bad input at the command line: one clear line on stderr, a non-zero exit, no traceback.

The entry points run in-process (their real Hydra main with a patched argv), so each case costs
milliseconds rather than a new Python process.
"""

from pathlib import Path

import pytest
import torch

import src.predict
import src.run.build
import src.train


@pytest.fixture
def run_dir(tmp_path: Path) -> str:
    return f"hydra.run.dir={tmp_path / 'run'}"


def test_missing_data_folder_offline(tmp_path, run_dir, run_cli, one_clear_line, monkeypatch):
    import urllib.error

    from src.data import download

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    code, _, err = run_cli(src.train, [f"paths.data_dir={tmp_path / 'nowhere'}", run_dir])
    one_clear_line(code, err, download.PYTORCH_TUTORIAL_DATA, "paths.data_dir=DIR")
    assert not (tmp_path / "run" / "results.json").exists()


def test_malformed_data_file_names_file_and_line(tmp_path, run_dir, run_cli, one_clear_line):
    (tmp_path / "bad.tsv").write_text("Rossi\tItalian\nno tab here\n", encoding="utf-8")
    argv = [f"paths.data_dir={tmp_path}", "task.data.path=bad.tsv", run_dir]
    code, _, err = run_cli(src.train, argv)
    one_clear_line(code, err, "bad.tsv:2: malformed line")


def test_unreadable_data_file(tmp_path, run_dir, run_cli, one_clear_line):
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "Greek.txt").write_bytes(b"\xff\xfe\x00junk")
    code, _, err = run_cli(src.train, [f"paths.data_dir={tmp_path}", run_dir])
    one_clear_line(code, err, "Greek.txt:1: not UTF-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["model=foo"], "model=foo is not a choice; use one of gru, lstm, mingru, minlstm, rnn, transformer"),
        (["task=foo"], "task=foo is not a choice; use one of"),
        (["-m", "model=rnn,tcn"], "model=tcn is not a choice"),
    ],
)
def test_unknown_group_value_lists_the_choices(argv, message, run_dir, run_cli, one_clear_line):
    code, _, err = run_cli(src.train, [*argv, run_dir])
    one_clear_line(code, err, message)


def test_predict_without_a_checkpoint(monkeypatch, capsys, run_cli, one_clear_line):
    code, _, err = run_cli(src.predict, ["input=Dostoevsky"])
    one_clear_line(code, err, "ckpt=")


def test_predict_with_a_missing_checkpoint(tmp_path, run_cli, one_clear_line):
    argv = [f"ckpt={tmp_path / 'nope.ckpt'}", "input=Dostoevsky"]
    code, _, err = run_cli(src.predict, argv)
    one_clear_line(code, err, "nope.ckpt does not exist")


def test_predict_with_a_corrupt_checkpoint(tmp_path, run_cli, one_clear_line):
    (tmp_path / "bad.ckpt").write_bytes(b"PK\x03\x04 this is not a checkpoint")
    code, _, err = run_cli(src.predict, [f"ckpt={tmp_path / 'bad.ckpt'}", "input=Dostoevsky"])
    one_clear_line(code, err, "bad.ckpt cannot be read", "corrupt")


def test_predict_with_a_foreign_checkpoint(tmp_path, run_cli, one_clear_line):
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    code, _, err = run_cli(src.predict, [f"ckpt={tmp_path / 'other.ckpt'}", "input=x"])
    one_clear_line(code, err, "not a checkpoint of this project")


@pytest.fixture(scope="module")
def names_ckpt(tmp_path_factory, compose, make_data) -> Path:
    """A real names checkpoint from a one-batch run."""

    root = tmp_path_factory.mktemp("ckpt")
    make_data(root)
    overrides = [f"paths.data_dir={root / 'data'}", "model.hidden_size=4", "model.num_layers=1", "trainer=debug"]
    src.run.build.train(compose(overrides, root / "run"))
    return root / "run" / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("text", ["", "   ", "123-456", "日本"])
def test_predict_an_empty_or_alphabet_less_name(text, names_ckpt, run_cli, one_clear_line):
    code, _, err = run_cli(src.predict, [f"ckpt={names_ckpt}", f"input='{text}'"])
    one_clear_line(code, err, "has no letters of the alphabet")


def test_predict_bad_line_in_input_file_names_the_line(tmp_path, names_ckpt, run_cli, one_clear_line):
    (tmp_path / "in.txt").write_text("Rossi\n42\n", encoding="utf-8")
    code, out, err = run_cli(src.predict, [f"ckpt={names_ckpt}", f"input_file={tmp_path / 'in.txt'}"])
    one_clear_line(code, err, "in.txt:2: '42'")
    assert out == ""


def test_predict_prints_one_line_per_name(names_ckpt, run_cli):
    code, out, err = run_cli(src.predict, [f"ckpt={names_ckpt}", "input=Dostoevsky", "top_k=2"])
    assert code == 0, err
    [line] = out.splitlines()
    assert line.startswith("Dostoevsky\t") and line.count("\t") == 2


def test_checkpoint_of_another_task(tmp_path, names_ckpt, run_dir, run_cli, one_clear_line):
    ckpt = torch.load(names_ckpt, weights_only=True)
    ckpt["rnnlab"]["task"] = "dinos"
    torch.save(ckpt, tmp_path / "dinos.ckpt")
    code, _, err = run_cli(src.train, [f"ckpt_path={tmp_path / 'dinos.ckpt'}", run_dir])
    one_clear_line(code, err, "is a dinos checkpoint; resume it with task=dinos")
    code, _, err = run_cli(src.predict, [f"ckpt={names_ckpt}", "expect_task=dinos", "input=x"])
    one_clear_line(code, err, "is a names checkpoint, not dinos")


@pytest.mark.parametrize(
    "module",
    [
        "src.tasks.base.torch._dynamo.convert_frame.subprocess.Popen",  # reachable by attribute from src.tasks.
        "subprocess.Popen",
        "src.tasks.classification.SequenceClassifier.__init__",
        ["Popen"],
    ],
)
def test_a_crafted_checkpoint_runs_no_code(module, tmp_path, run_cli, one_clear_line):
    """A plain-data checkpoint (it loads with weights_only=True) whose class name points at any
    callable: predict refuses it in one line, and the command in its hyper-parameters never runs."""
    planted = tmp_path / "planted"
    crafted = {
        "rnnlab": {"task": "names", "module": module},
        "hyper_parameters": {"args": ["touch", str(planted)]},  # what Popen(**hyper_parameters) would run
        "state_dict": {},
    }
    torch.save(crafted, tmp_path / "crafted.ckpt")
    assert torch.load(tmp_path / "crafted.ckpt", weights_only=True)["rnnlab"]["module"] == module
    code, _, err = run_cli(src.predict, [f"ckpt={tmp_path / 'crafted.ckpt'}", "input=x"])
    one_clear_line(code, err, "not one of this project's")
    assert not planted.exists()


def test_checkpoints_name_their_class_through_the_registry(names_ckpt):
    from src.tasks.registry import TASK_CLASSES

    saved = torch.load(names_ckpt, weights_only=True)["rnnlab"]["module"]
    assert saved == "SequenceClassifier" and saved in TASK_CLASSES
