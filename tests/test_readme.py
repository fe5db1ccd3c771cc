"""The documented commands work: every line of the fenced shell blocks of README.md and of the
documentation site's pages (docs/**/*.md) is run in a copy of the checkout (outputs land there),
shortened where it trains; any documented command that exits non-zero fails the test. A line that
several pages give is run once. Lines that are not run are in NOT_RUN with the reason, and each
shortening in SHORTER. The lines that read runs (predict, inspect, compare, tensorboard) run after the
ones that make them, each group in the pages' order (README first). The commands name real folders
(`ckpt=outputs/names`: the newest names run with a checkpoint), so they run as a reader pastes them.

`python -m ...` lines run in this process, as the other CLI tests run them (a new interpreter per line
would spend seconds importing Lightning each time); `tensorboard` is started as its own process,
asked for its page, and stopped."""

import logging
import os
import random
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

from src.paths import CHECKOUT

README = CHECKOUT / "README.md"
# README first, then the site's pages in name order
PAGES = [README, *sorted((CHECKOUT / "docs").rglob("*.md"))]

# lines not run here (matched by how they start), and why
NOT_RUN = {
    "make train": "its recipe is `python -m src.train task=names model=gru`, the README's first command, run here",
    "make test": "the test suite, which this test is part of",
    "make bench": "a benchmark of minutes; benchmarks/ has its own tests (test_benchmarks.py)",
    "make quality": "a benchmark of most of an hour; benchmarks/ has its own tests",
    "make scaling": "a benchmark of minutes; benchmarks/ has its own tests",
    "make baselines": "its recipe, `python -m src.baseline -m task=names,dinos,pairs,translate,binary`, is on the "
    "Baselines page and runs here",
    "python -m benchmarks.study": "times two searches of several epochs a trial (minutes); no test runs it",
    "make gpu-check": "needs an NVIDIA GPU; the GPU page's `benchmarks.gpu_check trainer=cpu` line runs here",
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
    ("python -m benchmarks.scan", ["lengths=4,8", "rounds=1", "hidden=4"]),  # its numbers are the docs' (~20 s)
    ("python -m src.train --cfg", []),
    # an untrained model writes up to max_decode_length (1,010) symbols for each of 4 wide test sets (40 s)
    ("python -m src.train task=addition", [*QUICK, "task.module.max_decode_length=60"]),
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
REPLACE = {
    "task=names,dinos,pairs,translate,binary": "task=dinos,pairs,translate,binary",
    "task.data.fold=0,1,2,3,4,5,6,7,8,9": "task.data.fold=0,1",
    # docs/defaults.md's validation sweeps over seeds 1-3: one seed of each setting
    "seed=1,2,3 task.data.": "seed=1 task.data.",
}


def doc_lines() -> list[str]:
    """Every distinct line of the pages' bash blocks that is not blank, a comment or an example output,
    in the order of its first appearance."""
    lines = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    lines.append(re.sub(r"\s+#\s.*$", "", line))  # a trailing comment
    return list(dict.fromkeys(lines))


def made_up_words(count: int, seed: int) -> list[str]:
    """Distinct pronounceable words, the same for a seed: stand-ins for a reader's own file."""
    rng, words = random.Random(seed), set()
    while len(words) < count:
        words.add("".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4))))
    return sorted(words)


# the files the pages' commands read from where the reader stands
INPUTS = {
    "names.txt": "Nakamura\nO'Neill\n",
    "words.txt": "Dostoevsky\nNakamura\n",
    "my_pairs.tsv": "".join(f"{a}\t{b}\n" for a, b in [("man", "woman"), ("king", "queen"), ("boy", "girl")] * 4),
    # name<TAB>Language, Russian among them (the namegen page's predict asks for language=Russian)
    "my_names.tsv": "".join(
        f"{w.capitalize()}{end}\t{language}\n"
        for language, end, seed in [("Russian", "ov", 1), ("Italian", "etti", 2), ("Japanese", "moto", 3)]
        for w in made_up_words(40, seed)
    ),
    "my_words.txt": "".join(f"{w}\n" for w in made_up_words(400, 4)),  # more than val_size + test_size (308)
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
    # Hydra's job logging puts handlers on the root logger (the captured stderr, the run's train.log) and
    # leaves them, as a process's end would not: put the root logger back, or a later test's log line
    # meets a closed stream (test_compare's pipe test after this one: "Logging error")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        runpy.run_module(args[2], run_name="__main__", alter_sys=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved
        sys.modules.update(imported)
        root.handlers[:] = handlers
        root.setLevel(level)
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
def test_every_documented_command_runs(tmp_path, monkeypatch, capsys):
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

    lines, failed, seconds = doc_lines(), [], {}
    assert len(lines) > 80  # the parser found the pages' commands
    stale = [prefix for prefix in NOT_RUN if not any(line.startswith(prefix) for line in lines)]
    assert not stale, f"NOT_RUN names lines the pages no longer have: {stale}"
    lines = sorted(lines, key=lambda line: line.startswith(READERS))  # stable: the README's order in each group
    for line in lines:
        if any(line.startswith(prefix) for prefix in NOT_RUN):
            continue
        for old, new in REPLACE.items():
            line = line.replace(old, new)
        extra = next((more for prefix, more in SHORTER if line.startswith(prefix)), [])
        started = time.perf_counter()
        args = shlex.split(line) + extra
        code = run_tensorboard(args, root) if args[0] == "tensorboard" else run_python(args)
        seconds[line] = time.perf_counter() - started
        if code != 0:
            failed.append(f"{code}: {shlex.join(args)}\n{capsys.readouterr().err[-2000:]}")
        capsys.readouterr()
    with capsys.disabled():
        print(f"\nREADME and docs: {len(seconds)} commands in {sum(seconds.values()):.0f} s; slowest:")
        for line, took in sorted(seconds.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {took:6.1f} s  {line}")
    assert not failed, "documented commands that failed:\n" + "\n".join(failed)
