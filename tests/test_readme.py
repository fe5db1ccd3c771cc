"""The README's commands work: every line of its fenced shell blocks is run in a copy of the checkout
(outputs land there), shortened where it trains; any documented command that exits non-zero fails the
test. Lines that are not run are in NOT_RUN with the reason, and each shortening in SHORTER. The lines
that read runs (predict, inspect, compare, tensorboard) run after the ones that make them, each group
in the README's order: the Predict section comes before the task sections that train its checkpoints.

`python -m ...` lines run in this process, as the other CLI tests run them (a new interpreter per line
would spend seconds importing Lightning each time); `tensorboard` is started as its own process,
asked for its page, and stopped."""

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from src import CHECKOUT

README = CHECKOUT / "README.md"

# lines not run here (matched by how they start), and why
NOT_RUN = {
    "make train": "its recipe is `python -m src.train task=names model=gru`, the README's first command, run here",
    "make test": "the test suite, which this test is part of",
    "make bench": "a benchmark of minutes; benchmarks/ has its own tests (test_benchmarks.py)",
    "make quality": "a benchmark of most of an hour; benchmarks/ has its own tests",
    "make scaling": "a benchmark of minutes; benchmarks/ has its own tests",
    "make gpu-check": "needs an NVIDIA GPU; the README's `benchmarks.gpu_check trainer=cpu` line runs here",
    "source .venv/bin/activate": "changes the shell; every command here runs with this venv's python",
    "python -m src.train trainer=gpu": "needs an NVIDIA GPU (without one it is one error line: test_robustness)",
    "python -m src.train trainer=ddp trainer.devices=4": "needs 4 GPUs",
    "python -m src.train trainer=ddp trainer.accelerator=cpu": "DDP starts new processes of the command; test_slow "
    "runs DDP on two CPU processes",
    "python -m src.train -m hydra/launcher=slurm": "needs a SLURM cluster (off one it is one error line: test_study)",
    "nohup ": "a 30-epoch run in the background; its plain-line output is tested in test_long_runs",
    "head -20 names.out": "reads the output of that background run",
    "tail -f ": "follows a file until Ctrl-C",
    'grep "resume:"': "reads the log of a run stopped by a signal (test_long_runs stops one and checks it)",
    "python -m src.train task=names model=gru trainer.max_epochs=30 ckpt_path=/home/me/": "the resume line that grep "
    "prints, with a stopped run's paths (resume is tested in test_resume)",
    "ssh ": "a tunnel from another machine",
}

# what is added to or changed in a line to keep it short, by what the line starts with (first match)
QUICK = ["++trainer.fast_dev_run=true"]  # one batch of train, val and test (trainer=debug's setting)
SHORTER = [
    # one trial and one seed per cell, one budget share (fitting each share's budget to every cell takes ~15 s)
    (
        "python -m src.fair_cells",
        [
            *QUICK,
            "fair_cells.trials=1",
            "fair_cells.seeds=[1]",
            "fair_cells.search.budget_share.choices=[1.0]",
            "fair_cells.cells=[rnn,gru]",
        ],
    ),
    ("python -m src.train -m hparams_search=", [*QUICK, "hydra.sweeper.n_trials=1"]),
    ("python -m src.train --cfg", []),
    ("python -m src.train", QUICK),
    ("python -m src.scratch binary", ["steps=300"]),
    ("python -m src.scratch dinos", ["steps=300"]),
    # one setting of the n-gram grid instead of its search (minutes)
    ("python -m src.baseline task=names", ["baseline.ngram_max=[3]", "baseline.C=[3]"]),
]
# commands that read what others wrote: run last
READERS = ("python -m src.predict", "python -m src.inspect", "python -m src.compare", "tensorboard")
# the sweep over every task's baseline, without names (its grid search takes minutes; names runs above)
# and the 10-fold sweeps on 2 of their folds (the folds' statistics are tested in test_folds and test_verdict)
REPLACE = {"task=names,dinos,pairs,translate,binary": "task=dinos,pairs,translate,binary",
           "task.data.fold=0,1,2,3,4,5,6,7,8,9": "task.data.fold=0,1"}  # fmt: skip


def readme_lines() -> list[str]:
    """Every line of the README's bash blocks that is not blank, a comment or an example output."""
    lines = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(re.sub(r"\s+#\s.*$", "", line))  # a trailing comment
    return lines


def newest(pattern: str, root: Path) -> Path:
    found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime)
    assert found, f"nothing matches {pattern} under {root}: an earlier README command should have made it"
    return found[-1]


def fill_in(args: list[str], root: Path, last_ckpt: dict[str, Path]) -> list[str]:
    """The README's placeholders made real: a checkpoint of `outputs/<task>/<run>/`, `ckpt=...` (the
    one of the line before), the newest sweep, and the input files it names."""
    filled = []
    for arg in args:
        if m := re.fullmatch(r"ckpt=outputs/(\w+)/<run>/checkpoints/best\.ckpt", arg):
            last_ckpt["..."] = newest(f"outputs/{m[1]}/*/checkpoints/last.ckpt", root)  # fast_dev_run: last only
            arg = f"ckpt={last_ckpt['...']}"
        elif arg == "ckpt=...":
            arg = f"ckpt={last_ckpt['...']}"
        elif arg == "ckpt=RNN.ckpt,LSTM.ckpt,GRU.ckpt":  # the first sweep's three cells
            sweep = sorted((root / "outputs" / "multirun").iterdir())[0]
            arg = "ckpt=" + ",".join(str(newest(f"*model-{c}*/checkpoints/last.ckpt", sweep)) for c in CELLS)
        elif re.fullmatch(r"outputs/multirun/[\d_-]+", arg):
            arg = str(newest("outputs/multirun/*", root))
        filled.append(arg)
    return filled


CELLS = ("rnn", "lstm", "gru")
INPUTS = {
    "names.txt": "Nakamura\nO'Neill\n",
    "words.txt": "Dostoevsky\nNakamura\n",
    "my_pairs.tsv": "".join(f"{a}\t{b}\n" for a, b in [("man", "woman"), ("king", "queen"), ("boy", "girl")] * 4),
}


def run_python(args: list[str]) -> int:
    """`python -m MODULE ARGS` in this process: the exit status."""
    assert args[:2] == ["python", "-m"], args
    GlobalHydra.instance().clear()
    saved = sys.argv
    sys.argv = [args[2], *args[3:]]
    # as `python -m` does, run the module afresh: one left imported by an earlier command would be run
    # a second time over itself (runpy warns); the imported one is put back afterwards
    imported = {name: sys.modules.pop(name) for name in (args[2], f"{args[2]}.__main__") if name in sys.modules}
    try:
        runpy.run_module(args[2], run_name="__main__", alter_sys=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved
        sys.modules.update(imported)
    return 0


def run_tensorboard(args: list[str], root: Path) -> int:
    """Start it on a free port, fetch its page, stop it: 0 when the page came back."""
    command = [str(Path(sys.executable).parent / "tensorboard"), *args[1:], "--port", "0"]
    server = subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stderr.readline()
            if m := re.search(r"http://([^:/]+):(\d+)/", line):
                host = "localhost" if args[-1] == "--bind_all" or m[1] != "localhost" else m[1]
                with urllib.request.urlopen(f"http://{host}:{m[2]}/", timeout=30) as page:
                    return 0 if page.status == 200 else 1
            if not line and server.poll() is not None:
                return server.returncode or 1
        return 1
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch, capsys):
    root = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files"], cwd=CHECKOUT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (CHECKOUT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, root / name)
    for name, text in INPUTS.items():
        (root / name).write_text(text)
    monkeypatch.chdir(root)
    monkeypatch.setenv("RNNLAB_DATA_DIR", os.environ.get("RNNLAB_DATA_DIR") or str(CHECKOUT.parent / "shared" / "data"))

    lines, failed, seconds, last_ckpt = readme_lines(), [], {}, {}
    assert len(lines) > 50  # the parser found the README's commands
    stale = [prefix for prefix in NOT_RUN if not any(line.startswith(prefix) for line in lines)]
    assert not stale, f"NOT_RUN names lines the README no longer has: {stale}"
    lines = sorted(lines, key=lambda line: line.startswith(READERS))  # stable: the README's order in each group
    for line in lines:
        if any(line.startswith(prefix) for prefix in NOT_RUN):
            continue
        for old, new in REPLACE.items():
            line = line.replace(old, new)
        extra = next((more for prefix, more in SHORTER if line.startswith(prefix)), [])
        started = time.perf_counter()
        try:
            args = fill_in(shlex.split(line), root, last_ckpt) + extra
        except AssertionError as err:  # a placeholder with nothing to stand for
            failed.append(f"{line}\n{err}")
            continue
        code = run_tensorboard(args, root) if args[0] == "tensorboard" else run_python(args)
        seconds[line] = time.perf_counter() - started
        if code != 0:
            failed.append(f"{code}: {shlex.join(args)}\n{capsys.readouterr().err[-2000:]}")
        capsys.readouterr()
    with capsys.disabled():
        print(f"\nREADME: {len(seconds)} commands in {sum(seconds.values()):.0f} s; slowest:")
        for line, took in sorted(seconds.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {took:6.1f} s  {line}")
    assert not failed, "README commands that failed:\n" + "\n".join(failed)
