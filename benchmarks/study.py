"""A study's wall time with one worker and with several, side by side in one run.

    python -m benchmarks.study                         # names, 4 trials of 4 epochs, workers 1 then 2 (~4 min)
    python -m benchmarks.study trials=6 epochs=3 workers=1,2

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
OPTIONS = {"trials": 4, "epochs": 4, "workers": "1,2", "batches": 250}
# every trial of one size, so that the trials cost alike and the ratio measures the workers, not which
# sizes the sampler happened to draw (a 2-layer 256-unit trial took 40 s beside 6 s for a 128-unit one)
SIZES = ["model.hidden_size=128", "model.num_layers=1", "task.data.batch_size=64"]
STARTUP = 5  # the preset's TPE n_startup_trials: random, so independent of the trials' results


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    options, overrides = split_args(argv, OPTIONS)
    for key in ("trials", "epochs", "batches"):
        options[key] = whole_number(key, options[key])
    options["workers"] = [whole_number("workers", w) for w in str(options["workers"]).split(",")]
    if options["trials"] > STARTUP:
        raise UserError(
            f"trials={options['trials']}; at most {STARTUP}, so that every setting tries the same parameters"
        )
    return options, overrides


def one_study(workers: int, options: dict, overrides: list[str], folder: Path) -> dict:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    sweep = folder / f"workers_{workers}"
    cmd = [sys.executable, "-m", "src.train", "-m", "hparams_search=names_optuna", f"hydra.sweep.dir={sweep}",
           f"hydra.sweeper.n_trials={options['trials']}", f"hydra.sweeper.workers={workers}",
           f"trainer.max_epochs={options['epochs']}", f"++trainer.limit_train_batches={options['batches']}",
           "callbacks.early_stopping=null", "trainer.enable_progress_bar=false", *SIZES, *overrides]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise UserError(f"the study with workers={workers} failed: {(proc.stderr.strip().splitlines() or [''])[-1]}")
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    study = optuna.load_study(study_name="names_gru", storage=storage)
    trials = sorted(study.trials, key=lambda t: t.number)
    return {
        "workers": workers,
        "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "trials": len(trials),
        "params": [t.params for t in trials],
        "best_value": study.best_value,
    }


def main(argv: list[str]) -> dict:
    options, overrides = parse(argv)
    print(f"names study: {options['trials']} trials of {options['epochs']} epochs x {options['batches']} batches, "
          f"threads=1 per trial; workers {options['workers']}; overrides: {overrides}", flush=True)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in options["workers"]:
            rows.append(one_study(workers, options, overrides, Path(tmp)))
            r = rows[-1]
            print(f"  workers={workers}: {r['wall_s']} s wall, {r['cpu_s']} s CPU", flush=True)
    same = all(r["params"] == rows[0]["params"] for r in rows)
    for r in rows:
        r["wall_ratio"] = round(r["wall_s"] / rows[0]["wall_s"], 3)
    print("\n| workers | wall s | CPU s | wall / first |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['wall_s']} | {r['cpu_s']} | {r['wall_ratio']} |")
    print(f"same parameters tried in every setting: {same}")
    result = {"trials": options["trials"], "epochs": options["epochs"], "batches": options["batches"],
              "threads_per_trial": 1, "rows": rows, "same_params": same}  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run(main)
