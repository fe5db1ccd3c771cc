"""The GPU check: every task x cell x precision through fit (a few batches), test, predict and inspect
on the GPU; DDP on two GPUs when the machine has two; and per task, the epoch time on the GPU against
the CPU. One command for anyone with a GPU:

    make gpu-check                                  # python -m benchmarks.gpu_check
    python -m benchmarks.gpu_check tasks=names cells=gru precisions=bf16-mixed
    python -m benchmarks.gpu_check trainer=cpu precisions=32-true,bf16-mixed   # the same on a CPU

Options (every other key=value goes to each run as a train override):
  trainer=     gpu (default) or cpu: where the checks run
  tasks=       the tasks (default: all)      cells=  the cells (default: all)
  precisions=  default 32-true,16-mixed,bf16-mixed (16-mixed is a GPU's; a CPU makes it bf16-mixed)
  batches=     train, val and test batches of each check run (default 3)
  timing=      true (default): each task's epoch time on this trainer's device and on the CPU
  timing_batches=  batches in each timed epoch (default 100)
  ddp=         auto (default: when there are 2 GPUs), true or false: names on 2 processes, whole test
               record checked

A line per check (ok, or FAILED and the error's first line), a table, then one JSON object. Exit
status 0 when every check passed, 1 when one failed, 2 for a bad option.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.cli import CELLS, TASKS, check_overrides, choices, run, split_args, whole_number
from src.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
OPTIONS = {
    "trainer": "gpu",
    "tasks": ",".join(TASKS),
    "cells": ",".join(CELLS),
    "precisions": ",".join(PRECISIONS),
    "batches": 3,
    "timing": "true",
    "timing_batches": 100,
    "ddp": "auto",
}
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    options, overrides = split_args(argv, OPTIONS)
    options["trainer"] = choices("trainer", options["trainer"], ("gpu", "cpu"))
    for key, allowed in (("tasks", TASKS), ("cells", CELLS), ("precisions", PRECISIONS)):
        options[key] = choices(key, options[key], allowed).split(",")
    options["batches"] = whole_number("batches", options["batches"])
    options["timing_batches"] = whole_number("timing_batches", options["timing_batches"])
    options["timing"] = choices("timing", str(options["timing"]).lower(), ("true", "false")) == "true"
    options["ddp"] = choices("ddp", str(options["ddp"]).lower(), ("auto", "true", "false"))
    if any(o.startswith(("task=", "model=", "trainer=")) for o in overrides):
        raise UserError("this check sets task=, model= and trainer= itself; pick them with tasks=, cells=, trainer=")
    return options, overrides


def device_of(trainer: str) -> str:
    import torch

    if trainer == "gpu" and not torch.cuda.is_available():
        raise UserError("trainer=gpu but torch sees no CUDA GPU here; run the same check on the CPU with trainer=cpu")
    return "cuda" if trainer == "gpu" else "cpu"


def first_error_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]


def check_one(task: str, cell: str, precision: str, options: dict, overrides: list[str], tmp: Path) -> dict:
    """fit + test (src.run.build.train, with the end-of-training InspectCells), then predict and inspect
    of the best checkpoint on the same device; each step's outcome."""
    from benchmarks.speed import compose_train
    from src import load
    from src.inspect import inspect
    from src.predict import predict
    from src.run.build import train

    row = {"task": task, "cell": cell, "precision": precision, "ok": False, "step": "fit+test", "error": None}
    run_dir = tmp / f"{task}_{cell}_{precision}"
    b = options["batches"]
    start = time.perf_counter()
    try:
        limits = [f"++trainer.limit_{split}_batches={b}" for split in ("train", "val", "test")]
        limits.append("++trainer.val_check_interval=1.0")  # binary validates every 50 batches by default
        limits.append("trainer.log_every_n_steps=1")  # a check's few batches still log
        run_overrides = [
            f"task={task}",
            f"model={cell}",
            f"trainer={options['trainer']}",
            "trainer.max_epochs=1",
            f"trainer.precision={precision}",
            *limits,
            *QUIET,
            *overrides,
        ]
        cfg = compose_train(run_overrides, str(run_dir))
        results = train(cfg)
        row["test"] = results["test"]
        ckpt, device = results["best_ckpt"], device_of(options["trainer"])
        rows = [json.loads(line) for line in (run_dir / "test_predictions.jsonl").read_text().splitlines()]
        module = load(ckpt)
        first = rows[0]["input"] if rows else ""
        language = module.spec.conditions[0] if getattr(module.spec, "conditions", None) else None
        generates = module.spec.kind == "language_model"
        row["step"] = "predict"
        args = {"ckpt": ckpt, "device": device}
        args |= {"num_samples": "3"} if generates else {"input": first}
        args |= {"language": language} if language else {}
        row["predicted"] = predict(args)[:1]
        row["step"] = "inspect"
        args = {
            "ckpt": ckpt,
            "input": first,
            "out": str(run_dir / "inspect"),
            "device": device,
            "max_items": "64",
            "data_dir": cfg.paths.data_dir,
        }
        figures = inspect(args | ({"language": language} if language else {}))
        row["figures"] = len(figures)
        row["ok"], row["step"] = True, "done"
    except Exception as err:  # a check reports every failure and goes on to the next
        row["error"] = first_error_line(err)
        row["where"] = traceback.extract_tb(err.__traceback__)[-1].filename.replace(str(ROOT) + "/", "")
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def epoch_seconds(task: str, trainer: str, options: dict, overrides: list[str], tmp: Path) -> float:
    """The faster of two timed epochs of `timing_batches` batches (the first pays for warm-up)."""
    from benchmarks.speed import compose_train, lightning_epochs

    n = options["timing_batches"]  # training only: no validation, so no checkpoint or early stopping to feed
    timed = [
        f"task={task}",
        f"trainer={trainer}",
        "trainer.max_epochs=2",
        "++trainer.limit_val_batches=0",
        f"++trainer.limit_train_batches={n}",
        f"trainer.log_every_n_steps={min(n, 50)}",
        "callbacks.early_stopping=null",
        "callbacks.checkpoint=null",
        "callbacks.last_checkpoint=null",
    ]
    cfg = compose_train([*timed, *QUIET, *overrides], str(tmp / f"time_{task}_{trainer}"))
    epochs, _ = lightning_epochs(cfg)
    return min(wall for wall, _ in epochs)


def check_ddp(device: str, batches: int, overrides: list[str], tmp: Path) -> dict:
    """names on 2 processes: every test name once in test_predictions.jsonl."""
    run_dir = tmp / "ddp"
    accelerator = "gpu" if device == "cuda" else "cpu"
    cmd = [
        sys.executable,
        "-m",
        "src.train",
        "task=names",
        "trainer=ddp",
        f"trainer.accelerator={accelerator}",
        "trainer.devices=2",
        "trainer.max_epochs=1",
        f"++trainer.limit_train_batches={batches}",
        *QUIET,
        *overrides,
        f"hydra.run.dir={run_dir}",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    row = {"ok": False, "seconds": None, "error": None}
    row["seconds"] = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return row
    rows = (run_dir / "test_predictions.jsonl").read_text().splitlines()
    config = json.loads((run_dir / "results.json").read_text())
    row["test_rows"], row["test"] = len(rows), config["test"]
    row["ok"] = len(rows) == sum(b["items"] for b in config["by_length"]) and len(rows) > 0
    return row


def main(argv: list[str]) -> dict:
    import torch

    options, overrides = parse(argv)
    device = device_of(options["trainer"])
    check_overrides(overrides, options["tasks"])
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(
        f"torch {torch.__version__}, {device} ({name}), {torch.cuda.device_count()} GPU(s); "
        f"{options['batches']} batches a split; overrides: {overrides}",
        flush=True,
    )
    checks, timing, ddp = [], [], None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for task in options["tasks"]:
            for cell in options["cells"]:
                for precision in options["precisions"]:
                    row = check_one(task, cell, precision, options, overrides, tmp)
                    checks.append(row)
                    verdict = "ok" if row["ok"] else f"FAILED at {row['step']} ({row['where']}): {row['error']}"
                    print(f"  {task} x {cell} x {precision}: {verdict} [{row['seconds']} s]", flush=True)
        if options["timing"]:
            for task in options["tasks"]:
                here = epoch_seconds(task, options["trainer"], options, overrides, tmp)
                cpu = here if device == "cpu" else epoch_seconds(task, "cpu", options, overrides, tmp)
                timing.append(
                    {
                        "task": task,
                        f"{device}_s": round(here, 3),
                        "cpu_s": round(cpu, 3),
                        "speedup": round(cpu / here, 2),
                    }
                )
                where = f"{device} {here:.3f} s, cpu {cpu:.3f} s" if device != "cpu" else f"cpu {cpu:.3f} s"
                print(f"  epoch of {options['timing_batches']} batches, {task}: {where}", flush=True)
        if options["ddp"] == "true" or (options["ddp"] == "auto" and torch.cuda.device_count() >= 2):
            ddp = check_ddp(device, options["batches"], overrides, tmp)
            print(f"  ddp on 2 processes: {'ok' if ddp['ok'] else 'FAILED: ' + str(ddp['error'])}", flush=True)
    failed = [c for c in checks if not c["ok"]] + ([ddp] if ddp and not ddp["ok"] else [])
    passed = sum(c["ok"] for c in checks)
    ddp_line = f"; DDP {'passed' if ddp['ok'] else 'FAILED'}" if ddp else "; DDP not run (fewer than 2 GPUs)"
    print(f"\n{passed} of {len(checks)} checks passed{ddp_line}")
    if timing and device == "cpu":
        print("\n| task | cpu s/epoch |\n|---|---|")
        print("\n".join(f"| {t['task']} | {t['cpu_s']:.3f} |" for t in timing))
    elif timing:
        print(f"\n| task | {device} s/epoch | cpu s/epoch | cpu / {device} |\n|---|---|---|---|")
        for t in timing:
            print(f"| {t['task']} | {t[f'{device}_s']:.3f} | {t['cpu_s']:.3f} | {t['speedup']:.2f} |")
    result = {
        "torch": torch.__version__,
        "device": device,
        "device_name": name,
        "checks": checks,
        "timing": timing,
        "ddp": ddp,
        "failed": len(failed),
    }
    print(json.dumps(result, default=str))
    return result


def cli() -> int:
    result = {}
    run(lambda argv: result.update(main(argv)))
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(cli())
