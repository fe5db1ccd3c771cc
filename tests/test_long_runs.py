"""Long runs on a server: output to a file reads as plain lines, train.log tells the whole run, and a
run stopped by SIGTERM or a hang-up exits non-zero and resumes with the command its log gives."""

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.loggers import TensorBoardLogger

import src.train
from src.run.build import build_trainer

ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """`python -m src.train argv... > file` in-process: Hydra sets up its logging (console and
    train.log) as on the command line, and pytest's captured stdout is not a terminal."""
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["src.train", *argv])
    capsys.readouterr()
    code = 0
    try:
        code = src.train.cli()
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().out


def test_output_to_a_file_is_plain_lines_and_train_log_holds_them(tiny, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    overrides = [o for o in tiny if not o.startswith("trainer.enable_progress_bar")]  # the default decides
    code, out = run_cli([*overrides, f"hydra.run.dir={run}"], monkeypatch, capsys)
    assert code == 0, out
    assert "\r" not in out  # no progress bar repaints
    epochs = [line.split(" - ", 1)[1] for line in out.splitlines() if " - epoch " in line]
    assert [e.split()[1] for e in epochs] == ["1/2", "2/2"], out
    assert all("val/acc " in e and "best " in e and "train/loss " in e and e.endswith(" s") for e in epochs)
    assert out.rstrip().endswith(f"finished: run folder {run.resolve()}")

    log = (run / "train.log").read_text()
    assert "\r" not in log
    assert all(e in log for e in epochs)  # the same epoch lines
    assert "test/acc " in log and "test/f1 " in log  # the test metrics
    assert f"run folder {run.resolve()}" in log


@pytest.mark.parametrize(
    ("setting", "tty", "bar"),
    [("null", True, True), ("null", False, False), ("true", False, True), ("false", True, False)],
)
def test_progress_bar_in_a_terminal_unless_set(setting, tty, bar, tiny, tmp_path, monkeypatch, compose):
    cfg = compose([*tiny, f"trainer.enable_progress_bar={setting}"], tmp_path)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    trainer = build_trainer(cfg, TensorBoardLogger(tmp_path, name="", version=""))
    assert (trainer.progress_bar_callback is not None) == bar


class SlowEpochs(L.Callback):
    """Makes each epoch of the tiny run last long enough for a signal to arrive mid-training."""

    def on_train_epoch_start(self, trainer, module):
        time.sleep(0.5)


def start(argv: list[str], out: Path, nohup: bool) -> subprocess.Popen:
    """`[nohup] python -m src.train argv... > out 2>&1 &`"""
    command = [*(["nohup"] if nohup else []), sys.executable, "-m", "src.train", *argv]
    with out.open("w") as file:
        return subprocess.Popen(command, cwd=ROOT, stdout=file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and text in path.read_text()):
        assert process.poll() is None, f"ended with {process.returncode} before {text!r}"
        assert time.monotonic() < deadline, f"no {text!r} in {path} after {timeout} s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "nohup"), [(signal.SIGTERM, True), (signal.SIGHUP, False)], ids=["term", "hup"])
def test_a_stopped_run_exits_non_zero_says_so_and_resumes_verbatim(signum, nohup, tiny, tmp_path):
    run = tmp_path / "run"
    argv = [*tiny, "trainer.max_epochs=4", "+callbacks.slow._target_=tests.test_long_runs.SlowEpochs"]
    process = start([*argv, f"hydra.run.dir={run}"], tmp_path / "nohup.out", nohup)
    wait_for(run / "train.log", " - epoch 2/4 ", process)
    process.send_signal(signum)
    assert process.wait(timeout=120) == 128 + signum

    log = (run / "train.log").read_text()
    assert f"stopped by {signum.name} (exit status {128 + signum})" in log
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "results.json").exists()
    assert f"stopped by {signum.name}" in (tmp_path / "nohup.out").read_text()  # and on the console
    [resume] = [line.split("resume: ", 1)[1] for line in log.splitlines() if "resume: " in line]
    assert f"ckpt_path={run.resolve()}/checkpoints/last.ckpt" in resume

    python, dash_m, module, *args = shlex.split(resume)  # the line from the log, as a user pastes it
    assert [python, dash_m, module] == ["python", "-m", "src.train"]
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (run / "results.json").is_file()
    log = (run / "train.log").read_text()
    epochs = [line.split(" - epoch ")[1].split()[0] for line in log.splitlines() if " - epoch " in line]
    assert epochs == ["1/4", "2/4", "3/4", "4/4"] and "resumed at step " in log


@pytest.mark.slow
def test_nohup_keeps_a_run_going_through_a_hang_up(tiny, tmp_path):
    run = tmp_path / "run"
    argv = [*tiny, "trainer.max_epochs=3", "+callbacks.slow._target_=tests.test_long_runs.SlowEpochs"]
    process = start([*argv, f"hydra.run.dir={run}"], tmp_path / "nohup.out", nohup=True)
    wait_for(run / "train.log", " - epoch 1/3 ", process)
    process.send_signal(signal.SIGHUP)  # the login that started it logs out
    assert process.wait(timeout=120) == 0
    assert (run / "results.json").is_file()
