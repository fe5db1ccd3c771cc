"""A fair comparison of the cells on one task: `python -m src.fair_cells task=dinos [key=value ...]`.

One Hydra sweep cannot say "an Optuna study per cell, then each cell's best over seeds", so this
driver runs them through the run library's own functions (src/run/build.py), on the project's study
engine (src/run/study.py),
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
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from src.errors import UserError, exit_status
from src.paths import CONF_DIR
from src.run.build import build, build_run, train
from src.run.checks import check_choices
from src.run.resolvers import register_resolvers

log = logging.getLogger("src.fair_cells")
# settings that may change between invocations of one comparison: more trials or seeds extend it
PER_INVOCATION = (
    "fair_cells.trials=",
    "fair_cells.seeds=",
    "fair_cells.workers=",
    "fair_cells.output_dir=",
    "threads=",
    "trainer.enable_progress_bar=",
)
FORMAT = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")


def compose_run(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """The config `python -m src.train <overrides>` would run, in the folder run_dir."""
    register_resolvers()  # a worker process (fair_cells.workers=2) composes here first, never through cli()
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
    from src.run.budget import common_budget, core_args  # torch: imported once a study starts, not for --help

    gru = compose_run([*overrides, "model=gru", "model.param_budget=null"])
    datamodule, module = build_run(gru)
    total = cfg.fair_cells.budget or sum(p.numel() for p in module.parameters())
    spec = datamodule.spec.to_dict()
    candidate = lambda core: build(gru.task.module, "task.module", spec=spec, model=core, _convert_="all")  # noqa: E731
    # each cell's own model config (a transformer's heads and positions too) at the GRU's sizes
    models = [
        core_args(compose_run([*overrides, f"model={cell}", "model.param_budget=null"]).model)[0]
        for cell in cfg.fair_cells.cells
    ]
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
    return {
        "overrides": chosen,
        "value": results["best_val"].get(monitor, float("nan")),
        "seconds": round(time.perf_counter() - started, 1),
        "hidden_size": results["hidden_size"],
        "params": results["params"],
    }


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def finished_record(folder: Path, chosen: list[str], monitor: str) -> dict | None:
    """A trial's record from its run folder when the run finished (results.json), else None."""
    from src.run.results import Results

    try:
        results = Results.read(json.loads((folder / "results.json").read_text()))
    except (OSError, ValueError, RecursionError):
        return None
    return {
        "overrides": chosen,
        "value": results.best_val.get(monitor, float("nan")),
        "seconds": results.train_seconds,
        "hidden_size": results.hidden_size,
        "params": results.params,
    }


class Pool:
    """Runs calls `workers` at a time and hands back each one as it ends, so a free worker takes the
    next call at once (no batch waits for its slowest run). In this process when workers is 1; else in
    worker processes kept for the whole comparison (loky's reusable executor, which joblib uses)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.running: dict = {}  # future -> what the caller said about it

    def submit(self, tag, function, *args) -> None:
        from concurrent.futures import Future

        if self.workers == 1:
            future = Future()
            try:
                future.set_result(function(*args))
            except Exception as err:  # noqa: BLE001 - handed back as a worker's failure is
                future.set_exception(err)
        else:
            from joblib.externals.loky import get_reusable_executor

            future = get_reusable_executor(max_workers=self.workers).submit(function, *args)
        self.running[future] = tag

    def free(self) -> bool:
        return len(self.running) < self.workers

    def next_done(self) -> list[tuple]:
        """(tag, result, error) of every call that ended, waiting for one if none has."""
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        ended = []
        for future in done:
            tag = self.running.pop(future)
            error = future.exception()
            ended.append((tag, None if error else future.result(), error))
        return ended


class CellStudy:
    """One cell's Optuna study on the project's study engine (src/run/study.py), kept in fair_cells's
    journal and resumed by the same command (finished trials kept, abandoned ones retried), then its
    best trial's seed runs. `next_call` gives the next run it wants, `ended` takes a run's outcome."""

    def __init__(self, cell: str, overrides: list[str], cfg: DictConfig, budgets: dict[float, int], root: Path):
        from functools import partial

        import optuna

        from src.run.study import open_study, storage_for

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.cell, self.overrides, self.cfg, self.budgets, self.root = cell, overrides, cfg, budgets, root
        self.folder = root / "search" / cell
        settings = cfg.fair_cells
        tpe = optuna.samplers.TPESampler
        sampler = partial(tpe, seed=settings.sampler_seed, n_startup_trials=settings.startup_trials)
        self.direction = "maximize" if cfg.task.monitor_mode == "max" else "minimize"
        signature = {
            "search": OmegaConf.to_container(settings.search),
            "budgets": {str(k): v for k, v in budgets.items()},
            "overrides": sorted(o for o in overrides if not o.startswith(PER_INVOCATION)),
        }
        fix = "give another fair_cells.output_dir (or the settings it was started with)"
        storage = storage_for(settings.storage, root)
        self.search = open_study(f"{cfg.task.name}_{cell}", storage, self.direction, sampler, signature, 1, fix)
        self.asked: dict[int, tuple] = {}  # trial number -> (trial, chosen) of the trials running
        self.seeds: list[tuple] | None = None  # the seed runs still to start, once the study is done
        self.result: dict | None = None

    def next_call(self) -> tuple | None:
        """The next (function, *args) this cell wants run now, or None (nothing, or not before a running trial ends)."""
        from src.run.study import finished

        if self.seeds is None:
            if finished(self.search) + len(self.asked) < self.cfg.fair_cells.trials:
                trial = self.search.ask()
                chosen = sample(trial, self.cfg, self.budgets)
                self.asked[trial.number] = (trial, chosen)
                return (
                    run_trial,
                    self.cell,
                    self.overrides,
                    chosen,
                    self.folder / str(trial.number),
                    self.cfg.task.monitor,
                )
            if self.asked:
                return None
            self.result = self.summary()
            if self.result["best"] is None:
                log.error("%s: every trial failed; left out of the retraining", self.cell)
            best, seeds = self.result["best"], list(self.cfg.fair_cells.seeds)
            self.seeds = seed_calls(self.cell, best, self.overrides, seeds, self.root) if best else []
        return self.seeds.pop(0) if self.seeds else None

    def busy(self) -> bool:
        return self.seeds is None or bool(self.seeds)

    def ended(self, args: tuple, record: dict | None, error: BaseException | None) -> None:
        """A run of this cell ended: a trial's record is told to the study; a seed run's end is logged."""
        from optuna.trial import TrialState

        from src.run.study import retry

        if args[0] is run_seed:
            if error is not None:  # run_seed catches a run's own errors: this is a lost worker
                log.error(
                    "%s seed %d stopped with its worker (%s); the same command again resumes it",
                    self.cell,
                    args[2],
                    first_line(error),
                )
            return
        number = int(args[4].name)
        trial, chosen = self.asked.pop(number)
        if error is not None:  # a worker process killed: the trial's run folder tells whether it finished
            log.error(
                "a worker stopped (%s); %s trial %d's run folder says whether it finished",
                first_line(error),
                self.cell,
                number,
            )
            record = finished_record(args[4], chosen, self.cfg.task.monitor)
        if record is None:  # lost with its worker: failed, and its parameters tried again
            self.search.tell(trial, state=TrialState.FAIL)
            retry(self.search, trial.number, trial.params, trial.user_attrs, retries=1)
            return
        for key, value in record.items():
            trial.set_user_attr(key, value)
        if "failed" in record:
            log.error("%s trial %d failed (%s); the study goes on", self.cell, number, record["failed"])
            trial.set_user_attr("tries", 2)  # deterministic (a bad setting): not retried
            self.search.tell(trial, state=TrialState.FAIL)
        elif record["value"] != record["value"]:
            self.search.tell(trial, state=TrialState.FAIL)
        else:
            log.info(
                "%s trial %d/%d: %s -> %s %.4f (hidden_size %d, %d parameters, %.0f s)",
                self.cell,
                number + 1,
                self.cfg.fair_cells.trials,
                " ".join(record["overrides"]),
                self.cfg.task.monitor,
                record["value"],
                record["hidden_size"],
                record["params"],
                record["seconds"],
            )
            self.search.tell(trial, record["value"])

    def summary(self) -> dict:
        """The study's trials and the best one's record (None if all failed)."""
        from optuna.trial import TrialState

        trials = [
            {"number": t.number, **t.user_attrs}
            for t in self.search.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.FAIL) and "overrides" in t.user_attrs
        ]
        trials = [{k: v for k, v in t.items() if k not in ("tries", "retry_of")} for t in trials]
        done = [t for t in trials if "value" in t and t["value"] == t["value"]]
        pick = max if self.direction == "maximize" else min
        return {"trials": trials, "best": pick(done, key=lambda t: t["value"]) if done else None}


def run_studies(overrides: list[str], cfg: DictConfig, budgets: dict[float, int], root: Path) -> dict:
    """Every cell's study and seed runs, `fair_cells.workers` runs at once. A worker that frees takes the
    next run of the first cell that has one: the cell's next trial, or, once its study is done, its
    next seed run; while a cell waits on its last trials, the next cell's study starts. With one worker
    that is each cell's study, then its seeds, then the next cell, one run after another."""
    cells = [CellStudy(cell, overrides, cfg, budgets, root) for cell in cfg.fair_cells.cells]
    pool = Pool(cfg.fair_cells.workers)
    while True:
        while pool.free():
            call = next((c for cell in cells if (c := cell.next_call()) is not None), None)
            if call is None:
                break
            owner = next(cell for cell in cells if cell.cell == call[1])
            pool.submit((owner, call), *call)
        if not pool.running:
            if any(cell.busy() for cell in cells):
                continue
            return {cell.cell: cell.result for cell in cells}
        for (owner, call), result, error in pool.next_done():
            owner.ended(call, result, error)


def seed_calls(cell: str, best: dict, overrides: list[str], seeds: list[int], root: Path) -> list[tuple]:
    """The best trial's run with every seed, as calls: a seed whose run finished (results.json) is
    kept, one stopped after a checkpoint resumes from its last.ckpt, any other starts again."""
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
    return calls


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


def check_settings(settings: DictConfig) -> None:
    """fair_cells.* as values it can use, before any run: one UserError naming the first that is not."""
    cells = sorted(p.stem for p in (Path(CONF_DIR) / "model").glob("*.yaml"))

    def whole(value, low: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    checks = [
        ("trials", whole(settings.trials, 1), "a whole number of at least 1"),
        ("workers", whole(settings.workers, 1), "a whole number of at least 1"),
        ("startup_trials", whole(settings.startup_trials, 0), "a whole number of at least 0"),
        ("budget", settings.budget is None or whole(settings.budget, 1), "a number of parameters, or null"),
        (
            "seeds",
            isinstance(settings.seeds, Sequence)
            and len(settings.seeds) > 0
            and all(whole(s, 0) for s in settings.seeds),
            "a list of seeds, e.g. [1,2,3]",
        ),
        (
            "cells",
            isinstance(settings.cells, Sequence)
            and len(settings.cells) > 0
            and all(c in cells for c in settings.cells),
            f"a list of cells from {', '.join(cells)}, e.g. [rnn,gru]",
        ),
    ]
    for key, good, wanted in checks:
        if not good:
            value = settings[key]
            shown = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
            raise UserError(f"fair_cells.{key}={shown} cannot be used; give {wanted}")


def fair_cells(overrides: list[str]) -> Path:
    """Every study, every retraining and the report; returns the folder that holds them."""
    started = time.perf_counter()
    cfg = compose_run(overrides)
    check_settings(cfg.fair_cells)
    settings = cfg.fair_cells
    root = Path(settings.output_dir).resolve()
    per_share = budgets(overrides, cfg)
    budget = max(per_share.values())
    log.info(
        "fair comparison of %s on %s: %d trials each, seeds %s, parameters a model by budget_share %s; folder %s",
        ", ".join(settings.cells),
        cfg.task.name,
        settings.trials,
        list(settings.seeds),
        per_share,
        root,
    )
    studies = run_studies(overrides, cfg, per_share, root)
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
            if (len(v["choices"]) > 1 if k == "budget_share" else OmegaConf.select(cfg, v["key"]) is not None)
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={cfg.threads}, "
        f"Python {platform.python_version()}",
        "wall_seconds": round(time.perf_counter() - started, 1),
        "studies": studies,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "fair_cells.json").write_text(json.dumps(setup, indent=2) + "\n")  # report.md's setup reads it
    if (root / "seeds").is_dir():
        from src.analysis.table import compare  # scipy: imported once there is something to compare

        print(compare(root / "seeds", root))
    log.info("finished in %.0f s: %s", setup["wall_seconds"], root / "report.md")
    return root


def cli(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:  # what it does and its settings, not an override parse error
        print(__doc__.strip())
        return 0
    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    register_resolvers()
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
