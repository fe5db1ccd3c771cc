"""Shared fixtures: compose the real Hydra config in-process, run it on tiny synthetic data, run the
entry points in-process, read TensorBoard back. Tests use these fixtures and import no test module.

    data_dir     a data folder with synthetic names/, dinos.txt and eng-fra.txt (function scope)
    make_data    root -> that folder under root (session scope, for module-scoped runs)
    compose      (overrides, run_dir) -> the config a command line would give (session scope)
    tiny         overrides for a seconds-long names run on data_dir
    shared_data  the real data sets (../shared/data or RNNLAB_DATA_DIR)
    run_cli      (entry module, argv) -> CliResult(code, out, err), the real main in-process
    tb_text      (run_dir, tag) -> the last text TensorBoard holds under tag
"""

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from src.paths import CONF_DIR as CONF
from src.paths import default_data_dir
from src.run.resolvers import register_resolvers

register_resolvers()  # conf/'s resolvers, as every command registers them before it composes a config

ROOT = Path(__file__).resolve().parents[1]

# The real data sets (CI and every developer machine have ../shared/data); slow tests need them.
SHARED_DATA = Path(default_data_dir())

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


def write_data_folder(root: Path) -> Path:
    """A data folder under root holding a synthetic names/ set, dinos.txt and eng-fra.txt."""
    data = root / "data"
    write_names_folder(data)
    write_words_file(data)
    write_sentence_pairs(data)
    return data


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_data_folder(tmp_path)


@pytest.fixture(scope="session")
def synthetic_names() -> dict[str, list[str]]:
    """language -> the names data_dir holds for it."""
    return SYNTHETIC


@pytest.fixture(scope="session")
def make_data():
    return write_data_folder


@pytest.fixture(scope="session")
def compose():
    return compose_cfg


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert (SHARED_DATA / "names").is_dir(), f"the real data sets are not in {SHARED_DATA}; set RNNLAB_DATA_DIR"
    return SHARED_DATA


def compose_cfg(overrides: list[str], run_dir: Path, config_name: str = "train"):
    """The config a user's command line would give, with the run folder at `run_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        if "paths" in cfg:
            cfg.paths.output_dir = str(run_dir)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def tiny(data_dir: Path) -> list[str]:
    """Overrides for a seconds-long run on the synthetic names."""
    return [
        f"paths.data_dir={data_dir}",
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


@pytest.fixture(scope="session")
def interrupt_after_epoch():
    return InterruptAfterEpoch


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def __iter__(self):  # code, out, err = run_cli(...)
        return iter((self.code, self.out, self.err))

    def assert_one_clear_line(self, *needles: str) -> None:
        """Exit status 2, one `error: ...` line on stderr (log lines in [..] aside), no traceback."""
        from src.errors import EXIT_USER_ERROR

        lines = [line for line in self.err.splitlines() if line.strip() and not line.startswith("[")]
        assert self.code == EXIT_USER_ERROR, self.err
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        assert "Traceback" not in self.err
        for needle in needles:
            assert needle in lines[0], lines[0]


def _signal_when(cmd: list[str], target, signum: int) -> tuple[int, str]:
    """Run `cmd` in the checkout; once `target(its pid)` names a process, send it `signum`; then wait
    for the command. Its exit status and output."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        deadline, pid = time.monotonic() + 240, None
        while time.monotonic() < deadline and pid is None:
            time.sleep(0.5)
            pid = target(proc.pid)
        assert pid, "the process to signal never showed"
        os.kill(pid, signum)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out


def _worker_of(pid: int) -> int | None:
    """A worker process (joblib's loky) of the command `pid`, if one runs."""
    children = subprocess.run(["pgrep", "-P", str(pid), "-f", "loky"], capture_output=True, text=True)
    workers = [int(p) for p in children.stdout.split()]
    workers = [p for p in workers if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()]
    return workers[0] if workers else None


@pytest.fixture(scope="session")
def signal_when():
    return _signal_when


@pytest.fixture(scope="session")
def worker_of():
    return _worker_of


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `python -m <entry> argv...` in-process (the module's `cli` or `main`)."""

    def run(entry, argv: list[str]) -> CliResult:
        GlobalHydra.instance().clear()
        capsys.readouterr()  # drop what earlier steps of the test printed
        monkeypatch.setattr(sys, "argv", [entry.__name__, *argv])
        code = 0
        # Hydra's job logging adds handlers on this call's (captured) streams: they go when it ends, as
        # they would with the process, so a later call never writes to a closed stream
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            returned = (getattr(entry, "cli", None) or entry.main)()
            code = returned if isinstance(returned, int) else 0  # cli() -> int, or main() that exits
        except SystemExit as exit_:
            code = exit_.code or 0
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def tb_text():
    """(run folder, tag) -> the last text logged under tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(run_dir, tag: str) -> str:
        events = EventAccumulator(str(run_dir)).Reload()
        return events.Tensors(f"{tag}/text_summary")[-1].tensor_proto.string_val[0].decode()

    return read


def _assert_one_clear_line(code: int, err: str, *needles: str) -> None:
    CliResult(code, "", err).assert_one_clear_line(*needles)


@pytest.fixture(scope="session")
def one_clear_line():
    """(exit status, stderr, *needles): the one-line error check of CliResult, for code, out, err unpacked."""
    return _assert_one_clear_line


@pytest.fixture(scope="session")
def datamodule(tmp_path_factory):
    """(task, data_dir, key=value, ...) -> that task's DataModule as its config builds it, with
    task.data.<key> set to each value (not yet set up)."""
    from src.run.build import build as build_node

    def build(task: str, data_dir, **data):
        overrides = [f"task={task}", f"paths.data_dir={data_dir}"]
        overrides += [f"task.data.{k}={v}" for k, v in data.items()]
        return build_node(compose_cfg(overrides, tmp_path_factory.mktemp("unused")).task.data, "task.data")

    return build
