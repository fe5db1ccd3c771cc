"""Shared fixtures: compose the real Hydra config in-process and run it on tiny synthetic data."""

import os
from pathlib import Path

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from src import CONF_DIR as CONF

# The real data sets (CI and every developer machine have ../shared/data); slow tests need them.
SHARED_DATA = Path(os.environ.get("RNNLAB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))

# Enough names per language for every split to hold each language with a fixed seed.
SYNTHETIC = {
    "Italian": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"],
    "Russian": [
        "Ivanov",
        "Smirnov",
        "Kuznetsov",
        "Popov",
        "Vasiliev",
        "Petrov",
        "Sokolov",
        "Mikhailov",
        "Novikov",
        "Fedorov",
    ],
    "Japanese": [
        "Sato",
        "Suzuki",
        "Takahashi",
        "Tanaka",
        "Watanabe",
        "Ito",
        "Yamamoto",
        "Nakamura",
        "Kobayashi",
        "Kato",
    ],
}


def write_names_folder(root: Path) -> Path:
    """A names/ folder like the real one, with its quirks: an accent, a junk line, a blank line."""
    folder = root / "names"
    folder.mkdir(parents=True)
    for language, names in SYNTHETIC.items():
        lines = (
            names
            + (["To The First Page", ""] if language == "Russian" else [])
            + ["Bélanger"] * (language == "Italian")
        )
        (folder / f"{language}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_words_file(root: Path, name: str = "dinos.txt", count: int = 400) -> Path:
    """A dinos.txt of made-up names (enough for the 154 + 154 held-out words), with a capital, a digit
    and blank lines, as real files have."""
    import random

    rng = random.Random(0)
    parts = ["tyr", "anno", "saur", "us", "ste", "go", "cera", "tops", "rap", "tor", "bra", "chio", "don", "ia"]
    words = {"".join(rng.choice(parts) for _ in range(rng.randint(2, 4))) for _ in range(count * 3)}
    lines = sorted(words)[:count] + ["", "Tyrannosaurus", "Rex2"]
    (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / name


def write_sentence_pairs(root: Path, count: int = 2197) -> Path:
    """An eng-fra.txt of made-up sentence pairs, enough sources for the 1000 + 1000 held out; some
    sources get two translations, one line has no tab."""
    numbers = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
    ]
    nombres = ["un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze", "treize"]
    lines = []
    for k in range(count):
        a, b, c = k % 13, (k // 13) % 13, k // 169
        eng = f"I see {numbers[a]} {numbers[b]} {numbers[c]} cats."
        fra = f"Je vois {nombres[a]} {nombres[b]} {nombres[c]} chats\u202f!"
        lines.append(f"{eng}\t{fra}")
        if k % 50 == 0:
            lines.append(f"{eng}\t{fra.replace('vois', 'regarde')}")
    lines.append("a line without a tab")
    (root / "eng-fra.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "eng-fra.txt"


@pytest.fixture
def names_dir(tmp_path: Path) -> Path:
    """A data folder holding a synthetic names/ set, dinos.txt and eng-fra.txt."""
    data = tmp_path / "data"
    write_names_folder(data)
    write_words_file(data)
    write_sentence_pairs(data)
    return data


def compose_cfg(overrides: list[str], run_dir: Path, config_name: str = "train"):
    """The config a user's command line would give, with the run folder at `run_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        if "paths" in cfg:
            cfg.paths.output_dir = str(run_dir)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def tiny(names_dir: Path) -> list[str]:
    """Overrides for a seconds-long run on the synthetic names."""
    return [
        f"paths.data_dir={names_dir}",
        "model.hidden_size=8",
        "model.num_layers=1",
        "task.module.embedding_dim=4",
        "task.data.batch_size=8",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "trainer.accelerator=cpu",
    ]


class InterruptAfterEpoch(L.Callback):
    """Presses Ctrl-C as epoch `epoch` starts, once the checkpoints of the epochs before it are written."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt
