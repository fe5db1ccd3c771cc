"""A study's wall time with one worker and with several, side by side in one run.

    python -m benchmarks.study                         # names, 4 trials of 4 epochs, workers 1 then 2 (~4 min)
    python -m benchmarks.study trials=6 epochs=3 workers=1,2
    python -m benchmarks.study study=fair_cells        # names' fair comparison, scaled down (~6 min)

study=search (the default) times a Hydra search; study=fair_cells times `python -m src.fair_cells
task=names` scaled down: `trials` trials per cell (at most the sampler's 4 random startup trials)
and `seeds` seed runs of each cell's best, every run `epochs` epochs of `batches` batches.

Each setting runs `python -m src.train -m hparams_search=names_optuna` in a fresh study folder, as a
user would, with the same seeded sampler; `trials` at most the sampler's 5 random startup trials, so
every setting tries the same parameters (checked, and printed); the sizes are fixed (SIZES), so the
trials differ in dropout and learning rate only and cost alike. Reported: wall and CPU seconds (the
command and its worker processes), threads per trial, the ratio of each setting's wall time to the
first's. Ends with one JSON object.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cli import run, split_args, whole_number
from src.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"study": "search", "trials": 4, "epochs": 4, "workers": "1,2", "batches": 250, "seeds": 2}
# every trial of one size, so that the trials cost alike and the ratio measures the workers, not which
# sizes the sampler happened to draw (a 2-layer 256-unit trial took 40 s beside 6 s for a 128-unit one)
SIZES = ["model.hidden_size=128", "model.num_layers=1", "task.data.batch_size=64"]
STARTUP = 5  # the preset's TPE n_startup_trials: random, so independent of the trials' results
FAIR_STARTUP = 4  # fair_cells.startup_trials


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    options, overrides = split_args(argv, OPTIONS)
    for key in ("trials", "epochs", "batches", "seeds"):
        options[key] = whole_number(key, options[key])
    options["workers"] = [whole_number("workers", w) for w in str(options["workers"]).split(",")]
    if options["study"] not in ("search", "fair_cells"):
        raise UserError(f"study={options['study']}; give study=search or study=fair_cells")
    most = STARTUP if options["study"] == "search" else FAIR_STARTUP
    if options["trials"] > most:
        raise UserError(f"trials={options['trials']}; at most {most}, so that every setting tries the same parameters")
    return options, overrides


def timed(cmd: list[str], workers: int) -> tuple[float, float]:
    """(wall, CPU seconds of the command and its worker processes) of running cmd in the checkout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise UserError(f"the study with workers={workers} failed: {(proc.stderr.strip().splitlines() or [''])[-1]}")
    return round(wall, 1), round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)


def one_fair_cells(workers: int, options: dict, overrides: list[str], folder: Path) -> dict:
    out = folder / f"workers_{workers}"
    seeds = ",".join(str(s) for s in range(1, options["seeds"] + 1))
    cmd = [
        sys.executable,
        "-m",
        "src.fair_cells",
        "task=names",
        f"fair_cells.output_dir={out}",
        f"fair_cells.workers={workers}",
        f"fair_cells.trials={options['trials']}",
        f"fair_cells.seeds=[{seeds}]",
        f"trainer.max_epochs={options['epochs']}",
        f"++trainer.limit_train_batches={options['batches']}",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false",
        *overrides,
    ]
    wall, cpu = timed(cmd, workers)
    studies = json.loads((out / "fair_cells.json").read_text())["studies"]
    params = {cell: sorted((t["number"], t["overrides"]) for t in s["trials"]) for cell, s in studies.items()}
    runs = sum(len(s["trials"]) for s in studies.values()) + options["seeds"] * len(studies)
    best = {cell: s["best"]["overrides"] for cell, s in studies.items()}
    return {"workers": workers, "wall_s": wall, "cpu_s": cpu, "trials": runs, "params": [params, best]}


def one_study(workers: int, options: dict, overrides: list[str], folder: Path) -> dict:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    sweep = folder / f"workers_{workers}"
    cmd = [
        sys.executable,
        "-m",
        "src.train",
        "-m",
        "hparams_search=names_optuna",
        f"hydra.sweep.dir={sweep}",
        f"hydra.sweeper.n_trials={options['trials']}",
        f"hydra.sweeper.workers={workers}",
        f"trainer.max_epochs={options['epochs']}",
        f"++trainer.limit_train_batches={options['batches']}",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false",
        *SIZES,
        *overrides,
    ]
    wall, cpu = timed(cmd, workers)
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    study = optuna.load_study(study_name="names_gru", storage=storage)
    trials = sorted(study.trials, key=lambda t: t.number)
    return {
        "workers": workers,
        "wall_s": wall,
        "cpu_s": cpu,
        "trials": len(trials),
        "params": [t.params for t in trials],
        "best_value": study.best_value,
    }


def main(argv: list[str]) -> dict:
    options, overrides = parse(argv)
    kind = "fair_cells (3 cells, {seeds} seeds each)" if options["study"] == "fair_cells" else "study"
    print(
        f"names {kind.format(**options)}: {options['trials']} trials of {options['epochs']} epochs x "
        f"{options['batches']} batches, threads=1 per run; workers {options['workers']}; overrides: {overrides}",
        flush=True,
    )
    one = one_fair_cells if options["study"] == "fair_cells" else one_study
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in options["workers"]:
            rows.append(one(workers, options, overrides, Path(tmp)))
            r = rows[-1]
            print(f"  workers={workers}: {r['wall_s']} s wall, {r['cpu_s']} s CPU", flush=True)
    same = all(r["params"] == rows[0]["params"] for r in rows)
    for r in rows:
        r["wall_ratio"] = round(r["wall_s"] / rows[0]["wall_s"], 3)
    print("\n| workers | wall s | CPU s | wall / first |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['wall_s']} | {r['cpu_s']} | {r['wall_ratio']} |")
    print(f"same parameters tried (and the same best chosen) in every setting: {same}")
    result = {key: options[key] for key in ("study", "trials", "epochs", "batches", "seeds")}
    result.update(threads_per_trial=1, rows=rows, same_params=same)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run(main)
