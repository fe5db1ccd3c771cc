"""A fair comparison of the cells on one task: `python -m src.fair_cells task=dinos [key=value ...]`
(also `python -m src.train -m experiment=fair_cells task=dinos`).

One Hydra sweep cannot say "an Optuna study per cell, then each cell's best over seeds", so this
small driver runs them through src.train's own functions, in this process, one run at a time:
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


def study(cell: str, overrides: list[str], cfg: DictConfig, budgets: dict[float, int], folder: Path) -> dict:
    """One cell's Optuna study; returns its trials and the best one's overrides (None if all failed)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = cfg.fair_cells
    sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed, n_startup_trials=settings.startup_trials)
    direction = "maximize" if cfg.task.monitor_mode == "max" else "minimize"
    trials = []

    def objective(trial) -> float:
        chosen = sample(trial, cfg, budgets)
        started = time.perf_counter()
        try:
            results = run_one([*overrides, f"model={cell}", *chosen], folder / str(trial.number))
        except Exception as err:  # noqa: BLE001 - one failed trial must not end the study
            log.error("%s trial %d failed (%s: %s); the study goes on", cell, trial.number, type(err).__name__, err)
            trials.append({"number": trial.number, "overrides": chosen, "failed": f"{type(err).__name__}: {err}"})
            raise optuna.TrialPruned() from err  # recorded, not the best, and the study continues
        value = results["best_val"].get(cfg.task.monitor, float("nan"))
        seconds = time.perf_counter() - started
        log.info("%s trial %d/%d: %s -> %s %.4f (hidden_size %d, %d parameters, %.0f s)", cell, trial.number + 1,
                 settings.trials, " ".join(chosen), cfg.task.monitor, value, results["hidden_size"], results["params"],
                 seconds)  # fmt: skip
        trials.append({"number": trial.number, "overrides": chosen, "value": value, "seconds": round(seconds, 1),
                       "hidden_size": results["hidden_size"], "params": results["params"]})  # fmt: skip
        if value != value:
            raise optuna.TrialPruned()
        return value

    search = optuna.create_study(direction=direction, sampler=sampler, study_name=f"{cfg.task.name}_{cell}")
    search.optimize(objective, n_trials=settings.trials)
    done = [t for t in trials if "value" in t and t["value"] == t["value"]]
    pick = max if direction == "maximize" else min
    best = pick(done, key=lambda t: t["value"]) if done else None
    return {"trials": trials, "best": best}


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
        for seed in settings.seeds:
            try:
                run_one([*overrides, f"model={cell}", *best["overrides"], f"seed={seed}"],
                        root / "seeds" / f"{cell}_seed{seed}")  # fmt: skip
            except Exception as err:  # noqa: BLE001 - the other seeds and cells still count
                log.error("%s seed %d failed (%s: %s)", cell, seed, type(err).__name__, err)
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


def cli(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:  # what it does and its settings, not an override parse error
        print(__doc__.strip())
        return 0
    logging.basicConfig(level=logging.INFO, format=FORMAT._fmt)
    overrides = [a for a in argv if a not in ("-m", "--multirun", "experiment=fair_cells")]
    check_choices(overrides)
    return exit_status(fair_cells, overrides)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
