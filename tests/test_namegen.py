"""task=namegen: a character language model conditioned on the language (the seventh task, added
with a DataModule and a config only)."""

import math
from pathlib import Path

import pytest

import src.predict
from src import load
from src.run.build import train


def name_nll(task, names: list[str], language: str) -> float:
    """Mean negative log-likelihood per symbol of `names` when the model starts from `language`'s token."""
    import torch

    from src.data.batching import IGNORE, pad
    from src.data.vocab import END

    vocab, start = task.spec.vocab, task.spec.vocab.stoi[task.spec.condition_token(language)]
    tokens, lengths = pad([[start, *vocab.encode(n)] for n in names], vocab.id(END))
    targets, _ = pad([[*vocab.encode(n), vocab.id(END)] for n in names], IGNORE)
    with torch.no_grad():
        logits, _ = task.net(tokens, lengths)
    return float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE))


@pytest.fixture(scope="module")
def namegen_run(tmp_path_factory, compose, make_data) -> dict:
    root = tmp_path_factory.mktemp("namegen")
    overrides = [
        "task=namegen",
        f"paths.data_dir={make_data(root)}",
        "model.hidden_size=32",
        "trainer.max_epochs=30",
        "task.module.lr=2e-2",
        "task.data.batch_size=8",
        "trainer.enable_progress_bar=false",
        "task.module.novelty_samples=30",
        "callbacks.early_stopping=null",
        "trainer.log_every_n_steps=1",
    ]
    return train(compose(overrides, root / "run"))


def test_each_name_starts_with_its_language_token(data_dir: Path, datamodule):
    dm = datamodule("namegen", data_dir)
    dm.setup()
    spec, data = dm.spec, dm.datasets["train"]
    assert spec.conditions == ["Italian", "Japanese", "Russian"]
    name, language = dm.rows["train"][0]
    n = int(data.lengths[0])
    ids = spec.vocab.encode(name)
    assert data.tokens[0, :n].tolist() == [spec.vocab.stoi[f"<{language}>"], *ids]
    assert data.targets[0, :n].tolist() == [*ids, 0]  # then END (id 0)
    assert spec.train_words == sorted({n for n, _ in dm.rows["train"]})


def test_namegen_learns_the_languages_and_generates_for_each(
    namegen_run: dict, tb_text, run_cli, one_clear_line, synthetic_names
):
    test = namegen_run["test"]
    assert 0 < test["test/nll"] < math.log(58 + 3)  # better than a uniform guess over letters, END and 3 languages
    assert 0 <= namegen_run["best_val"]["val/novelty"] <= 1
    lines = tb_text(namegen_run["run_dir"], "val/samples").split("\n\n")
    assert [line.split(":")[0] for line in lines] == ["Italian", "Japanese", "Russian"]

    task = load(Path(namegen_run["run_dir"]) / "checkpoints" / "last.ckpt")
    russian = task.predict(language="Russian", num_samples=20, temperature=0.5)
    assert len(russian) == 20 and all(w and "<" not in w for w in russian)  # no language token written
    # the language steers the model: each language's names are likelier under their own token
    for language in task.spec.conditions:
        names = synthetic_names[language]
        own = name_nll(task, names, language)
        assert all(own < name_nll(task, names, other) for other in task.spec.conditions if other != language)

    ckpt = namegen_run["best_ckpt"]
    code, out, err = run_cli(src.predict, [f"ckpt={ckpt}", "language=Italian", "num_samples=3", "prefix=Ro"])
    assert code == 0 and len(out.splitlines()) == 3 and all(w.startswith("Ro") for w in out.splitlines()), err
    code, _, err = run_cli(src.predict, [f"ckpt={ckpt}", "num_samples=3"])
    one_clear_line(code, err, "give language=; use one of Italian, Japanese, Russian")
    code, _, err = run_cli(src.predict, [f"ckpt={ckpt}", "language=Klingon"])
    one_clear_line(code, err, "language=Klingon is not one of its languages")


def test_language_does_not_apply_to_dinos(data_dir: Path, tmp_path: Path, compose, run_cli, one_clear_line):
    overrides = ["task=dinos", f"paths.data_dir={data_dir}", "model.hidden_size=4", "trainer=debug"]
    train(compose(overrides, tmp_path / "run"))
    argv = [f"ckpt={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "language=Russian"]
    code, _, err = run_cli(src.predict, argv)
    one_clear_line(code, err, "language=Russian: this dinos model is not conditioned on a language")
