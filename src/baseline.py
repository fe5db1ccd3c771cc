"""A baseline without recurrence for a task: `python -m src.baseline task=names [baseline=<name>]`.

`baseline(cfg)` is a plain function (tests call it in-process); `main` is the thin Hydra entry point.
The run folder is an ordinary one (config.yaml, TensorBoard scalars and HPARAMS, results.json with
the task's own metric keys and `model` naming the baseline, test_predictions.jsonl in the recurrent
runs' row format), so `python -m src.compare` tests baselines against the cells (a baseline is
deterministic: a fixed value against a group of seeds) and TensorBoard shows them side by side.
"""

import json
import logging
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf, open_dict
from threadpoolctl import threadpool_limits

from src.analysis.lengths import by_length
from src.baselines import carry_free, kneser_ney, ngram_classifier, retrieval
from src.errors import EXIT_USER_ERROR, UserError
from src.paths import CONF_DIR
from src.run.checks import check_choices
from src.run.dashboard import log_hparams
from src.run.folder import claim, release
from src.run.resolvers import register_resolvers
from src.run.results import Results, write_json_atomically, write_rows

log = logging.getLogger(__name__)

# name (conf/baseline/<name>.yaml, its `name:`) -> the module that fits and scores it
BASELINES = {
    "char_ngram_lr": ngram_classifier,
    "char_ngram_lr_balanced": ngram_classifier,
    "kneser_ney": kneser_ney,
    "retrieval": retrieval,
    "xor": carry_free,
}
# keys a task config brings for the recurrent runs (the cell's sizes, the trainer): not a baseline's
RECURRENT_ONLY = ("model", "trainer", "callbacks")


def baseline(cfg: DictConfig) -> dict:
    """Fit the baseline on train, pick its settings on val, score test; write results.json and return it."""
    check_applies(cfg)
    cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key not in RECURRENT_ONLY])
    run_dir = Path(cfg.paths.output_dir)
    claim(run_dir, None, OmegaConf.to_yaml(cfg, resolve=True))  # a folder that holds a run is refused
    try:
        return fit_and_score(cfg, run_dir)
    finally:
        release(run_dir)


def fit_and_score(cfg: DictConfig, run_dir: Path) -> dict:
    """baseline()'s work in its claimed run folder."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    with threadpool_limits(cfg.threads):  # numpy's and scikit-learn's BLAS and OpenMP pools
        outcome = BASELINES[cfg.baseline.name].evaluate(cfg)
    seconds = time.perf_counter() - started
    log.info("%s on %s, chosen on validation: %s", cfg.baseline.name, cfg.task.name, outcome.chosen or "nothing")

    logger = TensorBoardLogger(save_dir=run_dir, name="", version="", default_hp_metric=False)
    logger.log_metrics({**outcome.val, **outcome.test}, step=0)
    if outcome.tried:
        keys = list(outcome.tried[0])
        rows = [" | ".join(keys), "|".join("---" for _ in keys)]
        rows += [
            " | ".join(f"{t[k]:.4f}" if isinstance(t[k], float) else str(t[k]) for k in keys) for t in outcome.tried
        ]
        logger.experiment.add_text("baseline/tried", "\n".join(f"| {row} |" for row in rows), 0)
    if outcome.examples:
        logger.experiment.add_text("test/examples", "\n\n".join(outcome.examples), 0)
    results = Results(
        task=cfg.task.name,
        model=cfg.baseline.name,
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        monitor=cfg.task.monitor,
        monitor_mode=cfg.task.monitor_mode,
        deterministic=True,  # fitted without random draws: the seed changes nothing (compare: a fixed value)
        best_val=outcome.val,
        test=outcome.test,
        chosen=outcome.chosen,
        params=outcome.params,
        train_seconds=round(seconds, 2),
        threads=cfg.threads,
        run_dir=str(run_dir.resolve()),
        # the monitored metric per input length, as a recurrent run's results.json has it (src/analysis/lengths.py)
        by_length=by_length(outcome.rows, cfg.task.monitor.removeprefix("val/"), cfg.task.module.get("bleu_ngrams", 4)),
    ).to_dict()
    with open_dict(cfg):
        cfg.baseline.chosen = outcome.chosen  # the HPARAMS tab shows what validation picked
    log_hparams(logger.experiment, cfg, run_dir)
    logger.experiment.close()
    write_rows(run_dir / "test_predictions.jsonl", outcome.rows)
    write_json_atomically(run_dir / "results.json", results)
    log.info("results: %s", json.dumps({"chosen": outcome.chosen, "best_val": outcome.val, "test": outcome.test}))
    log.info("finished: run folder %s", run_dir.resolve())
    return results


def tasks_with_baselines() -> list[str]:
    return sorted({task for module in BASELINES.values() for task in module.TASKS})


def check_applies(cfg: DictConfig) -> None:
    """A UserError unless cfg.baseline is a baseline of cfg.task."""
    task = cfg.task.name
    if cfg.get("baseline") is None:
        raise UserError(f"task={task} has no baseline; there are baselines for {', '.join(tasks_with_baselines())}")
    name = cfg.baseline.name
    if name not in BASELINES:
        raise UserError(f"baseline {name} has no code; use one of {', '.join(BASELINES)}")
    if task not in BASELINES[name].TASKS:
        fitting = [n for n, module in BASELINES.items() if task in module.TASKS]
        raise UserError(
            f"baseline={name} is for task={' or task='.join(BASELINES[name].TASKS)}, not task={task}; "
            + (f"use baseline={' or baseline='.join(fitting)}" if fitting else f"task={task} has no baseline")
        )


def check_args(args: list[str]) -> list[str]:
    """What Hydra would report at length, or only once a run folder exists, as one UserError before it
    starts: an unknown task or baseline, a baseline of another task, an option (`baseline.<key>=`) the
    chosen baseline does not have. In a sweep (-m) a task without a baseline is left out with a note;
    returns the arguments to run with."""
    check_choices([arg for arg in args if arg.startswith("task=")])  # one line naming the tasks
    values = {key: value for key, sep, value in (arg.partition("=") for arg in args) if sep}
    choices = sorted(p.stem for p in (Path(CONF_DIR) / "baseline").glob("*.yaml"))
    names = values["baseline"].split(",") if "baseline" in values else [None]  # None: the task's own
    for name in names:
        if name is not None and name not in choices:
            raise UserError(f"baseline={name} is not a choice; use one of {', '.join(choices)}")
    options = [key.removeprefix("baseline.") for key in values if key.startswith("baseline.")]
    tasks, left_out = values.get("task", "names").split(","), []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for task in tasks:
            for name in names:
                cfg = compose("baseline", overrides=[f"task={task}", *([f"baseline={name}"] if name else [])])
                if cfg.get("baseline") is None and len(names) == 1 and len(tasks) > 1 and multirun(args):
                    left_out.append(task)
                    continue
                check_applies(cfg)
                for option in options:
                    if option.split(".")[0] not in cfg.baseline:
                        raise UserError(unknown_option(option, cfg.baseline))
    if "hydra.run.dir" in values and not multirun(args):  # before Hydra writes in it: a folder of its own
        from src.run.checks import check_folder

        check_folder("hydra.run.dir", Path(values["hydra.run.dir"]).expanduser(), None)
    if left_out and len(left_out) == len(tasks):
        raise UserError(f"no task of task={values['task']} has a baseline; use {', '.join(tasks_with_baselines())}")
    if left_out:
        print(f"note: task={','.join(left_out)} has no baseline; left out of the sweep", file=sys.stderr)
        kept = ",".join(task for task in tasks if task not in left_out)
        args = [f"task={kept}" if arg.startswith("task=") else arg for arg in args]
    return args


def multirun(args: list[str]) -> bool:
    return "-m" in args or "--multirun" in args


def unknown_option(option: str, chosen: DictConfig) -> str:
    """`baseline.order is not an option of char_ngram_lr; it is kneser_ney's (task=dinos)`, and the options it has."""
    key = option.split(".")[0]
    owners = [p.stem for p in sorted((Path(CONF_DIR) / "baseline").glob("*.yaml")) if key in OmegaConf.load(p)]
    where = [f"{owner}'s (task={'/'.join(BASELINES[owner].TASKS)})" for owner in owners if owner in BASELINES]
    has = ", ".join(f"baseline.{k}" for k in chosen if k != "name") or "none"
    message = f"baseline.{option} is not an option of {chosen.name}"
    return message + (f"; it is {' and '.join(where)}" if where else "") + f". {chosen.name}'s options: {has}"


def cli(argv: list[str] | None = None) -> int:
    """`python -m src.baseline argv...`: 0 when the baseline ran (an error exits with its status)."""
    register_resolvers()
    try:
        sys.argv[1:] = check_args(sys.argv[1:] if argv is None else argv)  # Hydra reads sys.argv
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    main()
    return 0


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="baseline")
def main(cfg: DictConfig) -> float | None:
    try:
        results = baseline(cfg)
    except UserError as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra marks this job failed and the sweep's other jobs go on
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    return results["best_val"].get(cfg.task.monitor)


if __name__ == "__main__":
    sys.exit(cli())
