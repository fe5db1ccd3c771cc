"""Seconds per training epoch, for every task and cell: the project's Lightning run against a bare
PyTorch loop over the same batches, model and optimiser; throughput; peak memory; and, for names,
the course's one-name-at-a-time loop.

    python -m benchmarks.speed                                    # every task x cell (~17 min)
    python -m benchmarks.speed tasks=names,dinos cells=gru        # a subset
    python -m benchmarks.speed batches=100 rounds=3 threads=2     # 100 batches an epoch, 3 rounds, 2 threads
    python -m benchmarks.speed model.hidden_size=128              # any train override, for every task

(a) Lightning vs bare. The Lightning run is `src.train`'s Trainer (logger, callbacks, per-step
    logging, and the progress bar when the output is a terminal: plain epoch lines in a log file);
    the bare loop calls the task's own `step` (what `training_step` calls before it logs), then
    zero_grad / backward / clip / step / schedule. Each times whole epochs (translate: the first 50
    batches; `batches=N` for any task), from the epoch's start to its last step, twice per fit;
    validation runs between but is not timed. The two alternate for `rounds` rounds and the
    fastest epoch of each is kept, since the machine's load changes under us. s/epoch is that time
    scaled to the whole epoch.
(b) Throughput: symbols of the timed batches (source and target positions, no padding:
    characters, except translate's words and binary's bit pairs) per second of the Lightning run.
(c) Peak resident memory of this process while the Lightning run of that task and cell ran
    (sampled every 10 ms from /proc; the libraries alone hold most of it).
(d) names only: the course's loop (one-hot input, GRU 128, Adam 1e-3, batch 1) timed on a sample
    and extrapolated, against the default model and the course-sized model batched through Lightning.
(e) Padding: the share of the positions of one epoch's training batches (and of the validation
    batches) that are padding. `bucketing=true,false` times each task that has task.data.bucketing
    both ways in the same run (a row each); left out, each task runs as its config says.
(f) Roofline: the operations of one training epoch counted from the model's shapes on the real
    lengths (benchmarks/flops.py: matrix products, forward and backward) over the Lightning epoch's
    time, as `achieved_gflops`, and as `fraction_of_peak` of the best rate a large torch.mm reaches on
    this many threads in the same run (timed at its start and end, the better kept). A fraction far
    below 1 says the epoch is bound by something else than arithmetic: small products, per-step
    overhead, memory traffic, Python.
The last line is one JSON object.
"""

import gc
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import open_dict
from torch import nn

from benchmarks.cli import CELLS, CLASSIC_CELLS, TASKS, choices, run, split_args, whole_number
from benchmarks.flops import training_flops
from src.data.batching import IGNORE, PairBatch
from src.errors import UserError
from src.paths import CONF_DIR
from src.run.build import build_run, build_trainer
from src.run.checks import check_choices

OPTIONS = {
    "tasks": ",".join(TASKS),
    "cells": ",".join(CLASSIC_CELLS),
    "batches": None,
    "rounds": 3,
    "course": True,
    "bucketing": None,
}
MATMUL_SIZE = 1024  # the square torch.mm that sets the peak: 2.1 GFLOP, large enough to run at full rate
# batches timed an epoch when batches= is not given: whole epochs (so the per-epoch cost counts
# once per epoch, as in training), except translate's 40-second epochs
DEFAULT_BATCHES = {"translate": 50}
EPOCHS = 2  # timed epochs per fit; the faster is kept (the first pays for warm-up)
PER_EXAMPLE_SAMPLE = 1500  # names timed in the course's loop
# The course's network size on the project's batched path (batch 256: larger batches were no faster here).
COURSE_SIZED = ["model.bidirectional=false", "model.num_layers=1", "model.hidden_size=128", "task.data.batch_size=256"]


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


class PeakRSS:
    """The largest resident set size of this process during a block, in MiB (None without /proc)."""

    def __enter__(self):
        self.peak_mb, self._stop = None, threading.Event()
        if Path("/proc/self/statm").is_file():
            self._page = os.sysconf("SC_PAGE_SIZE")
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self):
        peak = 0
        while not self._stop.wait(0.01):
            peak = max(peak, int(Path("/proc/self/statm").read_text().split()[1]) * self._page)
            self.peak_mb = round(peak / 2**20, 1)

    def __exit__(self, *exc):
        self._stop.set()


class EpochClock(L.Callback):
    """Times the training part of each epoch: epoch start (before the first batch is fetched) to
    the end of the last batch."""

    def __init__(self):
        self.epochs: list[tuple[float, float]] = []

    def on_train_epoch_start(self, trainer, module):
        self._clock = Clock().__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:
            self._clock.__exit__()
            self.epochs.append((self._clock.wall, self._clock.cpu))


def compose_train(overrides: list[str], run_dir: str):
    from src.run.checks import check_config
    from src.run.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    check_config(cfg)  # the values src.train refuses (threads=abc), refused here too in one line
    with open_dict(cfg):
        cfg.paths.output_dir = run_dir
    return cfg


def setup_run(cfg):
    """The DataModule and task module exactly as src.train builds them."""
    return build_run(cfg)


def symbols(batch) -> int:
    """Real (unpadded) positions of a batch: source and target for pairs, the input otherwise."""
    if isinstance(batch, PairBatch):
        return int(batch.src_lengths.sum()) + int((batch.tgt_out != IGNORE).sum())
    return int(batch.lengths.sum())


def padding_share(batches) -> float:
    """The share of the positions of `batches` that are padding (source and target positions of pairs)."""
    real = padded = 0
    for batch in batches:
        real += symbols(batch)
        padded += batch.src.numel() + batch.tgt_out.numel() if isinstance(batch, PairBatch) else batch.tokens.numel()
    return 1 - real / padded if padded else 0.0


def matmul_gflops(size: int = MATMUL_SIZE, repeats: int = 10) -> float:
    """The best rate of `repeats` (size, size) @ (size, size) float32 products on this process's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def lightning_epochs(cfg, reshape=None) -> tuple[list[tuple[float, float]], float | None]:
    """The timed epochs of the project's own Lightning run, and the peak memory during it;
    `reshape(dm)` may change the DataModule's training set first (the scaling benchmark)."""
    dm, module = setup_run(cfg)
    if reshape is not None:
        reshape(dm)
    clock = EpochClock()
    logger = TensorBoardLogger(cfg.paths.output_dir, name="", version="", default_hp_metric=False)
    trainer = build_trainer(cfg, logger, extra_callbacks=[clock], enable_model_summary=False)
    with PeakRSS() as rss:
        trainer.fit(module, datamodule=dm)
    return clock.epochs, rss.peak_mb


def bare_epochs(cfg, batches: int) -> tuple[list[tuple[float, float]], int]:
    """The same batches through the task's own step (training_step minus logging), optimiser and
    schedule in a plain loop; returns the timed epochs and the symbols in one epoch's timed batches."""
    dm, module = setup_run(cfg)
    loader = dm.train_dataloader()
    steps = min(batches, len(loader))
    optimizer, schedule = module.optimizer_and_schedule(EPOCHS * steps)
    clip = cfg.trainer.get("gradient_clip_val")
    module.train()
    epochs, count = [], 0
    for _ in range(EPOCHS):
        count = 0
        with Clock() as clock:
            for i, batch in enumerate(loader):
                loss = module.step(batch, "train").loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip:
                    nn.utils.clip_grad_norm_(module.parameters(), clip)
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                count += symbols(batch)
                if i + 1 == steps:
                    break
        epochs.append((clock.wall, clock.cpu))
    return epochs, count


def bench_overrides(task: str, cell: str, batches: int) -> list[str]:
    """The task's default config, timed on `batches` batches an epoch, validation cut short and
    only at epoch ends (it is not timed), no early stop."""
    return [
        f"task={task}",
        f"model={cell}",
        f"trainer.max_epochs={EPOCHS}",
        f"++trainer.limit_train_batches={batches}",
        "++trainer.limit_val_batches=2",
        "++trainer.num_sanity_val_steps=0",
        "++trainer.val_check_interval=1.0",
        "++trainer.check_val_every_n_epoch=1",
        "callbacks.early_stopping=null",
    ]


def measure(task: str, cell: str, options: dict, overrides: list[str], tmp: str) -> dict:
    batches = options["batches"] or DEFAULT_BATCHES.get(task, 10**9)
    cfg = compose_train([*bench_overrides(task, cell, batches), *overrides], f"{tmp}/{task}_{cell}")
    dm, module = setup_run(cfg)
    loader = dm.train_dataloader()
    full = len(loader)
    flops, padding, eval_padding = training_flops(module.net, loader), padding_share(loader), None
    if dm.datasets.get("val") is not None:
        eval_padding = padding_share(dm.val_dataloader())
    timed = min(batches, full)
    bare, lightning, peak, count = [], [], None, 0
    for _ in range(options["rounds"]):  # alternate: the machine's load changes under us
        epochs, count = bare_epochs(cfg, timed)
        bare += epochs
        epochs, peak_round = lightning_epochs(cfg)
        lightning += epochs
        peak = max(peak or 0, peak_round or 0) or None
        gc.collect()
    (bare_wall, bare_cpu), (light_wall, light_cpu) = min(bare), min(lightning)
    scale = full / timed
    return {
        "task": task,
        "model": cell,
        "bucketing": cfg.task.data.get("bucketing"),
        "batches_timed": timed,
        "batches_per_epoch": full,
        "bare_epoch_wall_s": round(bare_wall * scale, 4),
        "bare_epoch_cpu_s": round(bare_cpu * scale, 4),
        "lightning_epoch_wall_s": round(light_wall * scale, 4),
        "lightning_epoch_cpu_s": round(light_cpu * scale, 4),
        "lightning_vs_bare": round(light_wall / bare_wall, 3),
        "symbols_per_s": round(count / light_wall),
        "peak_rss_mb": peak,
        "padding_share": round(padding, 4),
        "eval_padding_share": None if eval_padding is None else round(eval_padding, 4),
        "epoch_gflop": round(flops / 1e9, 3),
        "achieved_gflops": round(flops / 1e9 / (light_wall * scale), 3),
    }


class CourseClassifier(nn.Module):
    """The lesson's model: one-hot letters -> GRU(128) -> last step -> Linear -> LogSoftmax."""

    def __init__(self, letters: int, classes: int, hidden: int = 128):
        super().__init__()
        self.rnn = nn.GRU(letters, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, one_hot):  # (T, 1, letters)
        output, _ = self.rnn(one_hot)
        return F.log_softmax(self.out(output[-1]), dim=-1)  # (1, classes)


def per_example_epoch(cfg) -> tuple[float, float, int]:
    """The course's loop, one name a step, timed on a sample; returns the extrapolated epoch."""
    dm, _ = setup_run(cfg)
    data = dm.datasets["train"]
    letters = len(dm.spec.vocab)  # one-hot over every id, padding included (never used: no padding here)
    model = CourseClassifier(letters, len(dm.spec.labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sample = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:PER_EXAMPLE_SAMPLE]
    with Clock() as clock:
        for i in sample.tolist():
            length = int(data.lengths[i])
            one_hot = F.one_hot(data.tokens[i, :length], letters).float().unsqueeze(1)  # (T, 1, letters)
            loss = F.nll_loss(model(one_hot), data.targets[i : i + 1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    scale = len(data) / len(sample)
    return clock.wall * scale, clock.cpu * scale, len(sample)


def course(names_row: dict, overrides: list[str], tmp: str) -> dict:
    """names: the default model's epoch and the course-sized one's against the course's loop."""
    base = bench_overrides("names", names_row["model"], 10**9)  # whole epochs
    cfg = compose_train([*base, *overrides], f"{tmp}/course")
    same = compose_train([*base, *overrides, *COURSE_SIZED], f"{tmp}/course_sized")
    same_wall = min(lightning_epochs(same)[0])[0]
    wall, cpu, sample = per_example_epoch(cfg)
    return {
        "model": names_row["model"],
        "per_example_epoch_wall_s": round(wall, 4),
        "per_example_epoch_cpu_s": round(cpu, 4),
        "per_example_sample": sample,
        "train_names": len(setup_run(cfg)[0].datasets["train"]),
        "lightning_epoch_wall_s": names_row["lightning_epoch_wall_s"],
        "speedup_vs_per_example": round(wall / names_row["lightning_epoch_wall_s"], 1),
        "lightning_epoch_same_model_wall_s": round(same_wall, 4),
        "speedup_vs_per_example_same_model": round(wall / same_wall, 1),
    }


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    """This benchmark's own options (tasks=, cells=, batches=, rounds=, course=) and train overrides."""
    options, overrides = split_args(argv, OPTIONS)
    options["tasks"], options["cells"] = (
        choices("tasks", options["tasks"], TASKS),
        choices("cells", options["cells"], CELLS),
    )
    options["batches"] = None if options["batches"] is None else whole_number("batches", options["batches"])
    options["rounds"] = whole_number("rounds", options["rounds"])
    options["course"] = str(options["course"]).lower() in ("true", "1", "yes")
    if options["bucketing"] is not None:
        options["bucketing"] = choices("bucketing", options["bucketing"], ("true", "false"))
    if any(o.startswith(("task=", "model=")) for o in overrides):
        raise UserError("this benchmark sets task= and model= itself; pick them with tasks=names,dinos cells=gru")
    return options, overrides


def main(argv: list[str]) -> dict:
    options, overrides = parse(argv)
    check_choices(overrides)  # model=foo: one line naming the choices
    threads_cfg = compose_train(overrides, ".")
    if threads_cfg.threads:
        torch.set_num_threads(threads_cfg.threads)
    threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {threads} thread(s), {options['batches'] or 'whole epochs'} timed "
        f"({DEFAULT_BATCHES} by default), "
        f"{options['rounds']} rounds; overrides: {overrides}"
    )
    rows, course_result, peak = [], None, matmul_gflops()
    print(f"best torch.mm rate: {peak:.1f} GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for task in options["tasks"].split(","):
            ways = [[]]  # the task's own bucketing, or each asked for when the task has the option
            if options["bucketing"] and "bucketing" in compose_train([f"task={task}", *overrides], ".").task.data:
                ways = [[f"task.data.bucketing={way}"] for way in options["bucketing"].split(",")]
            for cell in options["cells"].split(","):
                for way in ways:
                    rows.append(measure(task, cell, options, [*overrides, *way], tmp))
                    r = rows[-1]
                    print(
                        f"  {task} x {cell} (bucketing {r['bucketing']}): {r['lightning_vs_bare']:.3f}, "
                        f"padding {r['padding_share']:.3f}, {r['lightning_epoch_wall_s']:.3f} s/epoch",
                        flush=True,
                    )
        names = [r for r in rows if r["task"] == "names"]
        if options["course"] and names:
            row = next((r for r in names if r["model"] == "gru"), names[0])
            way = [] if row["bucketing"] is None else [f"task.data.bucketing={str(row['bucketing']).lower()}"]
            course_result = course(row, [*overrides, *way], tmp)
    peak = max(peak, matmul_gflops())
    for r in rows:
        r["fraction_of_peak"] = round(r["achieved_gflops"] / peak, 4)
    worst = max(rows, key=lambda r: r["lightning_vs_bare"])
    result = {
        "torch": torch.__version__,
        "threads": threads,
        "batches": options["batches"],
        "rounds": options["rounds"],
        "overrides": overrides,
        "matmul_peak_gflops": round(peak, 2),
        "rows": rows,
        "worst_lightning_vs_bare": {k: worst[k] for k in ("task", "model", "lightning_vs_bare")},
        "course": course_result,
    }
    print_table(result)
    print(json.dumps(result))
    return result


def print_table(result: dict) -> None:
    head = (
        "task",
        "cell",
        "bucketing",
        "bare s/ep",
        "Lightning s/ep",
        "ratio",
        "Lightning cpu s",
        "symbols/s",
        "peak RSS MiB",
        "padding",
        "val padding",
        "GFLOP/ep",
        "GFLOP/s",
        "fraction_of_peak",
    )
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in result["rows"]:
        cells = (
            r["task"],
            r["model"],
            str(r["bucketing"]),
            f"{r['bare_epoch_wall_s']:.3f}",
            f"{r['lightning_epoch_wall_s']:.3f}",
            f"{r['lightning_vs_bare']:.3f}",
            f"{r['lightning_epoch_cpu_s']:.3f}",
            f"{r['symbols_per_s']:,}",
            f"{r['peak_rss_mb']}",
            f"{r['padding_share']:.3f}",
            str(r["eval_padding_share"]),
            f"{r['epoch_gflop']:.2f}",
            f"{r['achieved_gflops']:.2f}",
            f"{r['fraction_of_peak']:.3f}",
        )
        print("| " + " | ".join(cells) + " |")
    print(
        f"fraction_of_peak: the epoch's counted GFLOP/s over the best torch.mm rate, {result['matmul_peak_gflops']} "
        "GFLOP/s on these threads"
    )
    w = result["worst_lightning_vs_bare"]
    print(f"\nworst lightning_vs_bare = {w['lightning_vs_bare']:.3f} ({w['task']} x {w['model']}; target <= 1.10)")
    c = result["course"]
    if c:
        print(
            f"names, course's one-name loop: {c['per_example_epoch_wall_s']:.2f} s/epoch (extrapolated from "
            f"{c['per_example_sample']} names); speedup_vs_per_example = {c['speedup_vs_per_example']:.1f}x "
            f"(target >= 50x); course-sized model batched: {c['lightning_epoch_same_model_wall_s']:.2f} s/epoch, "
            f"{c['speedup_vs_per_example_same_model']:.1f}x"
        )


if __name__ == "__main__":
    run(main)
