"""The quality table: each task x cell at its default config over several seeds, as mean +- std of
the test metrics with the training time, from the project's own sweep and compare tooling.

    python -m benchmarks.quality                                  # every task x rnn,lstm,gru x seeds 1,2,3
    python -m benchmarks.quality tasks=names,dinos seeds=1,2 jobs=1 out=outputs/quality

For each task this runs `python -m src.train -m task=T model=rnn,lstm,gru seed=...` into
OUT/T (with hydra/launcher=joblib and `jobs` runs at once when jobs > 1: each run uses one
thread, so on a 2-core machine jobs=2 keeps both busy), then `src.compare` over OUT, and writes
OUT/quality.md: the machine, then one table per task. Extra key=value arguments go to every run.
About 55 minutes on 2 cores with jobs=2, most of it translate (9 runs of 5-8 minutes).
"""

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.cli import CELLS, CLASSIC_CELLS, TASKS, check_overrides, choices, run, split_args, whole_number
from src.analysis.table import compare
from src.errors import UserError

OPTIONS = {"tasks": ",".join(TASKS), "cells": ",".join(CLASSIC_CELLS), "seeds": "1,2,3", "jobs": "2", "out": None}


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    options, overrides = split_args(argv, OPTIONS)
    choices("tasks", options["tasks"], TASKS)
    choices("cells", options["cells"], CELLS)
    whole_number("jobs", options["jobs"])
    if not all(s.strip().lstrip("-").isdigit() for s in options["seeds"].split(",")):
        raise UserError(f"seeds={options['seeds']}; give whole numbers separated by commas, e.g. seeds=1,2,3")
    check_overrides(overrides, options["tasks"].split(","))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    options["out"] = Path(options["out"] or f"outputs/quality/{stamp}")
    return options, overrides


def machine() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return (
        f"{cpu or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def sweep(task: str, options: dict, overrides: list[str]) -> int:
    jobs = int(options["jobs"])
    launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"] if jobs > 1 else []
    command = [
        sys.executable,
        "-m",
        "src.train",
        "-m",
        f"task={task}",
        f"model={options['cells']}",
        f"seed={options['seeds']}",
        f"hydra.sweep.dir={options['out'] / task}",
        "trainer.enable_progress_bar=false",
        *launcher,
        *overrides,
    ]
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, check=False).returncode


def main(argv: list[str]) -> Path:
    options, overrides = parse(argv)
    out: Path = options["out"]
    failed = [task for task in options["tasks"].split(",") if sweep(task, options, overrides) != 0]
    subprocess.run([sys.executable, "-m", "src.baseline", "-m", f"task={options['tasks']}", f"hydra.sweep.dir={out}"])
    report = compare(out)
    header = (
        f"Measured {datetime.date.today()} on {machine()}; {options['jobs']} run(s) at once, one thread each; "
        f"`python -m benchmarks.quality {' '.join(argv)}`".rstrip()
    )
    (out / "quality.md").write_text(header + "\n\n" + report + "\n")
    print(f"\nwrote {out / 'quality.md'}")
    if failed:
        raise UserError(f"the sweeps of {', '.join(failed)} failed (see above); their rows are missing or incomplete")
    return out


if __name__ == "__main__":
    run(main)
