"""A fair comparison of the cells on one task: `python -m src.fair_cells task=dinos [key=value ...]`.

One Hydra sweep cannot say "an Optuna study per cell, then each cell's best over seeds", so this
driver runs them through src.train's own functions, on the project's study engine (src/study.py),
`fair_cells.workers` runs at once (in this process when 1). The same command again resumes it: the
studies live in `study.journal` in its folder (finished trials kept, abandoned ones retried), and a
seed run that finished is kept, one stopped after a checkpoint resumes from it.
1. per cell, the same study: `fair_cells.trials` trials, the same search space and sampler seed,
   every model within the same parameter budget (`model.param_budget`, by default the task's
   default GRU's count; by default all of it, so every cell is within 2% of one count; a search
   over `fair_cells.search.budget_share.choices` lets a trial take a share, hidden_size following);
2. each cell's best trial retrained with every seed of `fair_cells.seeds`;
3. src.compare over the retrained runs: compare.md, compare.png and report.md (the setup, the
   intervals, the pairwise tests and the verdict).
A trial that fails is logged and marked failed in its study; the study goes on. Settings live in
conf/experiment/fair_cells.yaml; every other `key=value` goes to every run (threads=1, trainer.max_epochs=5).
"""

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from src import CONF_DIR
from src.errors import UserError, exit_status
from src.train import build, build_run, check_choices, train

log = logging.getLogger("src.fair_cells")
# settings that may change between invocations of one comparison: more trials or seeds extend it
PER_INVOCATION = ("fair_cells.trials=", "fair_cells.seeds=", "fair_cells.workers=", "fair_cells.output_dir=",
                  "threads=", "trainer.enable_progress_bar=")  # fmt: skip
FORMAT = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")


def compose_run(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """The config `python -m src.train <overrides>` would run, in the folder run_dir."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("train", overrides=["experiment=fair_cells", *overrides], return_hydra_config=True)
    except HydraException as err:  # an unknown key, a malformed override: Hydra's first line says which
        raise UserError(str(err).splitlines()[0]) from None
    HydraConfig.instance().set_config(cfg)  # train() reads the run's overrides from it
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir or "unused")
        del cfg["hydra"]
    return cfg


def run_one(overrides: list[str], run_dir: Path) -> dict:
    """One ordinary run (config.yaml, checkpoints, events, train.log, results.json) in run_dir."""
    cfg = compose_run(overrides, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(FORMAT)
    logging.getLogger().addHandler(handler)
    try:
        return train(cfg)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def budgets(overrides: list[str], cfg: DictConfig) -> dict[float, int]:
    """budget_share -> the parameters of a trial's model: the share of fair_cells.budget (by default
    the task's default GRU's count), raised where needed to the nearest count every cell meets
    within 2% (tiny models move in steps of more than 2%), so no cell's trial fails for its size."""
    from src.budget import common_budget  # torch: imported once a study starts, not for --help

    gru = compose_run([*overrides, "model=gru", "model.param_budget=null"])
    datamodule, module = build_run(gru)
    total = cfg.fair_cells.budget or sum(p.numel() for p in module.parameters())
    spec = datamodule.spec.to_dict()
    candidate = lambda core: build(gru.task.module, "task.module", spec=spec, model=core, _convert_="all")  # noqa: E731
    core = {k: v for k, v in OmegaConf.to_container(gru.model, resolve=True).items() if k != "param_budget"}
    models = [{**core, "cell": cell} for cell in cfg.fair_cells.cells]
    shares = cfg.fair_cells.search.get("budget_share", {"choices": [1.0]})["choices"]
    found = {}
    for share in shares:
        try:
            found[share] = common_budget(candidate, models, round(total * share))
        except UserError as err:  # a tiny task's small share: searched without it, for every cell alike
            log.warning("budget_share %s left out of the search: %s", share, err)
    if not found:
        raise UserError(f"no budget_share of {total} parameters suits every cell; give fair_cells.budget=N")
    return found


def sample(trial, cfg: DictConfig, budgets: dict[float, int]) -> list[str]:
    """One trial's overrides from the search space (keys the task lacks are left out)."""
    chosen = []
    for name, space in cfg.fair_cells.search.items():
        if name == "budget_share":
            share = trial.suggest_categorical(name, list(budgets))
            chosen.append(f"model.param_budget={budgets[share]}")
        elif OmegaConf.select(cfg, space.key) is not None:
            value = trial.suggest_float(name, space.low, space.high, log=bool(space.get("log", False)))
            chosen.append(f"{space.key}={value:.4g}")
    return chosen


def run_trial(cell: str, overrides: list[str], chosen: list[str], folder: Path, monitor: str) -> dict:
    """One trial's run, as a record for fair_cells.json and the study (a failure is a record too: a
    trial that fails is logged, marked failed, and the study goes on). A module-level function, so
    that a worker process can run it."""
    started = time.perf_counter()
    try:
        results = run_one([*overrides, f"model={cell}", *chosen], folder)
    except Exception as err:  # noqa: BLE001 - one failed trial must not end the study
        return {"overrides": chosen, "failed": f"{type(err).__name__}: {err}"}
    return {"overrides": chosen, "value": results["best_val"].get(monitor, float("nan")),
            "seconds": round(time.perf_counter() - started, 1), "hidden_size": results["hidden_size"],
            "params": results["params"]}  # fmt: skip


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def finished_record(folder: Path, chosen: list[str], monitor: str) -> dict | None:
    """A trial's record from its run folder when the run finished (results.json), else None."""
    from src.results import Results

    try:
        results = Results.read(json.loads((folder / "results.json").read_text()))
    except (OSError, ValueError, RecursionError):
        return None
    return {"overrides": chosen, "value": results.best_val.get(monitor, float("nan")), "seconds": results.train_seconds,
            "hidden_size": results.hidden_size, "params": results.params}  # fmt: skip


def in_parallel(calls: list[tuple], workers: int) -> list:
    """calls' results, `workers` at a time in worker processes (in this process when workers is 1)."""
    if workers == 1:
        return [function(*args) for function, *args in calls]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=workers)(delayed(function)(*args) for function, *args in calls)


def study(cell: str, overrides: list[str], cfg: DictConfig, budgets: dict[float, int], folder: Path) -> dict:
    """One cell's Optuna study on the project's study engine (src/study.py): kept in fair_cells's
    journal, resumed by the same command (finished trials kept, abandoned ones retried), run
    `fair_cells.workers` trials at once. Returns its trials and the best one's record (None if all failed)."""
    from functools import partial

    import optuna
    from optuna.trial import TrialState

    from src.study import finished, open_study, retry, storage_for

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = cfg.fair_cells
    sampler = partial(optuna.samplers.TPESampler, seed=settings.sampler_seed, n_startup_trials=settings.startup_trials)
    direction = "maximize" if cfg.task.monitor_mode == "max" else "minimize"
    signature = {"search": OmegaConf.to_container(settings.search), "budgets": {str(k): v for k, v in budgets.items()},
                 "overrides": sorted(o for o in overrides if not o.startswith(PER_INVOCATION))}  # fmt: skip
    search = open_study(f"{cfg.task.name}_{cell}", storage_for(settings.storage, folder.parent.parent), direction,
                        sampler, signature, retries=1,
                        fix="give another fair_cells.output_dir (or the settings it was started with)")  # fmt: skip
    while (left := settings.trials - finished(search)) > 0:
        trials = [search.ask() for _ in range(min(left, 1 if settings.workers == 1 else 2 * settings.workers))]
        chosen = [sample(trial, cfg, budgets) for trial in trials]
        calls = [(run_trial, cell, overrides, c, folder / str(t.number), cfg.task.monitor)
                 for t, c in zip(trials, chosen, strict=True)]  # fmt: skip
        try:
            records = in_parallel(calls, settings.workers)
        except Exception as err:  # noqa: BLE001 - a worker process killed: each trial's run folder tells
            log.error("a worker stopped (%s); the trials' run folders say which finished", first_line(err))
            records = [finished_record(folder / str(t.number), c, cfg.task.monitor)
                       for t, c in zip(trials, chosen, strict=True)]  # fmt: skip
        for trial, record in zip(trials, records, strict=True):
            if record is None:  # lost with its worker: failed, and its parameters tried again
                search.tell(trial, state=TrialState.FAIL)
                retry(search, trial.number, trial.params, trial.user_attrs, retries=1)
                continue
            for key, value in record.items():
                trial.set_user_attr(key, value)
            if "failed" in record:
                log.error("%s trial %d failed (%s); the study goes on", cell, trial.number, record["failed"])
                trial.set_user_attr("tries", 2)  # deterministic (a bad setting): not retried
                search.tell(trial, state=TrialState.FAIL)
            elif record["value"] != record["value"]:
                search.tell(trial, state=TrialState.FAIL)
            else:
                log.info("%s trial %d/%d: %s -> %s %.4f (hidden_size %d, %d parameters, %.0f s)", cell,
                         trial.number + 1, settings.trials, " ".join(record["overrides"]), cfg.task.monitor,
                         record["value"], record["hidden_size"], record["params"], record["seconds"])  # fmt: skip
                search.tell(trial, record["value"])
    trials = [{"number": t.number, **t.user_attrs} for t in search.get_trials(deepcopy=False)
              if t.state in (TrialState.COMPLETE, TrialState.FAIL) and "overrides" in t.user_attrs]  # fmt: skip
    trials = [{k: v for k, v in t.items() if k not in ("tries", "retry_of")} for t in trials]
    done = [t for t in trials if "value" in t and t["value"] == t["value"]]
    pick = max if direction == "maximize" else min
    best = pick(done, key=lambda t: t["value"]) if done else None
    return {"trials": trials, "best": best}


def seed_runs(cell: str, best: dict, overrides: list[str], seeds: list[int], root: Path, workers: int) -> None:
    """The best trial retrained with every seed; a seed whose run finished (results.json) is kept,
    one stopped after a checkpoint resumes from its last.ckpt, any other starts again."""
    calls = []
    for seed in seeds:
        folder = root / "seeds" / f"{cell}_seed{seed}"
        run = [*overrides, f"model={cell}", *best["overrides"], f"seed={seed}"]
        if folder.is_dir() and not same_settings(folder, best["overrides"]):
            # the study has a new best since (more trials): the old run is kept aside, not mixed in
            aside = root / "superseded" / f"{folder.name}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            folder.rename(aside)
            log.warning("%s seed %d ran another trial's settings; moved to %s and retrained", cell, seed, aside)
        if (folder / "results.json").is_file():
            log.info("%s seed %d: finished before, kept (%s)", cell, seed, folder)
            continue
        last = folder / "checkpoints" / "last.ckpt"
        if last.is_file():
            run.append(f"ckpt_path={last}")
        elif folder.is_dir():
            (folder / "config.yaml").unlink(missing_ok=True)  # stopped before its first checkpoint: again
        calls.append((run_seed, cell, seed, run, folder))
    in_parallel(calls, workers)


def same_settings(folder: Path, chosen: list[str]) -> bool:
    """Whether the seed run in `folder` was started with the chosen trial's settings (its config.yaml)."""
    import yaml

    try:
        config = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return True  # nothing of a run to keep: it starts again in place
    for override in chosen:
        key, _, value = override.partition("=")
        found = config
        for part in key.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None or str(found) != value and not _same_number(found, value):
            return False
    return True


def _same_number(found, value: str) -> bool:
    try:
        return abs(float(found) - float(value)) <= 1e-9 * max(1.0, abs(float(value)))
    except (TypeError, ValueError):
        return False


def run_seed(cell: str, seed: int, run: list[str], folder: Path) -> None:
    try:
        run_one(run, folder)
    except Exception as err:  # noqa: BLE001 - the other seeds and cells still count
        log.error("%s seed %d failed (%s: %s)", cell, seed, type(err).__name__, err)


def fair_cells(overrides: list[str]) -> Path:
    """Every study, every retraining and the report; returns the folder that holds them."""
    started = time.perf_counter()
    cfg = compose_run(overrides)
    settings = cfg.fair_cells
    root = Path(settings.output_dir).resolve()
    per_share = budgets(overrides, cfg)
    budget = max(per_share.values())
    log.info("fair comparison of %s on %s: %d trials each, seeds %s, parameters a model by budget_share %s; "
             "folder %s", ", ".join(settings.cells), cfg.task.name, settings.trials, list(settings.seeds), per_share,
             root)  # fmt: skip
    studies = {}
    for cell in settings.cells:
        studies[cell] = study(cell, overrides, cfg, per_share, root / "search" / cell)
        best = studies[cell]["best"]
        if best is None:
            log.error("%s: every trial failed; left out of the retraining", cell)
            continue
        seed_runs(cell, best, overrides, list(settings.seeds), root, settings.workers)
    setup = {
        "task": cfg.task.name,
        "command": "python -m src.fair_cells " + " ".join(overrides),
        "budget": budget,
        "budgets": {str(share): n for share, n in per_share.items()},
        "trials": settings.trials,
        "seeds": list(settings.seeds),
        "search": {
            k: v
            for k, v in OmegaConf.to_container(settings.search).items()
            if k == "budget_share" or OmegaConf.select(cfg, v["key"]) is not None
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={cfg.threads}, "
        f"Python {platform.python_version()}",
        "wall_seconds": round(time.perf_counter() - started, 1),
        "studies": studies,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "fair_cells.json").write_text(json.dumps(setup, indent=2) + "\n")  # report.md's setup reads it
    if (root / "seeds").is_dir():
        from src.compare import compare  # scipy: imported once there is something to compare

        print(compare(root / "seeds", root))
    log.info("finished in %.0f s: %s", setup["wall_seconds"], root / "report.md")
    return root


def cli(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:  # what it does and its settings, not an override parse error
        print(__doc__.strip())
        return 0
    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    check_choices(overrides)
    # progress lines on this call's standard error, for this call only (a handler left behind would
    # write to a closed stream when the command is called again in one process)
    root, console = logging.getLogger(), logging.StreamHandler(sys.stderr)
    console.setFormatter(FORMAT)
    level = root.level
    root.addHandler(console)
    root.setLevel(logging.INFO)
    try:
        return exit_status(fair_cells, overrides)
    finally:
        root.removeHandler(console)
        root.setLevel(level)


if __name__ == "__main__":
    sys.exit(cli())
