"""Building a run and running it: what `python -m src.train` does for each run, and what every other
command, the benchmarks and the tests that train call.

- `train(cfg)`: fit, test the best checkpoint, write results.json (src/run/results.py) in the run folder
  and return it (a plain function: tests call it in-process with a composed config);
- `build_run(cfg)`: the DataModule (set up) and the task module, seed and threads set, the model config
  turned into the recurrent core's arguments (src/run/budget.py `core_args`);
- `build_trainer(cfg, logger)`: the Trainer of cfg.trainer with the callbacks of cfg.callbacks;
- `build(node, where)`: hydra's instantiate, with what a user can fix as one UserError.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from src.errors import UserError
from src.run.checks import check_config, check_monitor, check_val_interval

# Lightning and torch are imported where a run starts, inside the functions: `--help` and a bad option
# answer in a fraction of a second instead of after the ~5 s `import lightning` takes.
if TYPE_CHECKING:
    import lightning as L

    from src.run.dashboard import RunLogger

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Fit, test the best checkpoint, write results.json in the run folder and return it."""
    import torch

    from src.analysis.lengths import by_length
    from src.run.console import route_library_logs
    from src.run.dashboard import RunLogger, log_hparams, log_layout
    from src.run.folder import claim, link_latest, release, requeued, restore
    from src.run.results import Results, write_json_atomically, write_rows
    from src.run.resume import ResumeState, check_resumable
    from src.run.study import prune_callback
    from src.tasks.checkpoint import local_file

    route_library_logs()  # from the first line on (Lightning's "Seed set to ..."): console format and train.log
    run_dir = Path(cfg.paths.output_dir)
    check_config(cfg)
    if not cfg.ckpt_path and (last := requeued(run_dir, OmegaConf.to_yaml(cfg, resolve=True))):
        log.warning("requeued job: resuming its run folder %s from %s", run_dir.resolve(), last)
        with open_dict(cfg):
            cfg.ckpt_path = str(last)
    if cfg.ckpt_path:
        check_resumable(cfg)
    datamodule, module = build_run(cfg)
    check_monitor(cfg, module)
    check_val_interval(cfg, len(datamodule.train_dataloader()))
    params = sum(p.numel() for p in module.parameters())
    log.info(
        "task %s, model %s: %d parameters; spec from the data: %s",
        cfg.task.name,
        cfg.model.cell,
        params,
        datamodule.spec.summary(),
    )

    logger = RunLogger(run_dir)
    clock = ResumeState()  # random state and training seconds across resumes
    prune = prune_callback(cfg)  # a study's trial with a pruner: report each epoch, stop when told (src/run/study.py)
    trainer = build_trainer(cfg, logger, extra_callbacks=[clock, *([prune] if prune else [])])
    claimed = trainer.is_global_zero  # the folder is this run's (held, config.yaml written) until it ends
    if claimed:
        claim(run_dir, cfg.ckpt_path, OmegaConf.to_yaml(cfg, resolve=True))
    try:
        if claimed:
            # the HPARAMS row and the CUSTOM SCALARS charts while the run trains (src/run/dashboard.py)
            log_hparams(logger.experiment, cfg, run_dir)
            log_layout(logger.experiment, cfg.task.name, cfg.task.monitor, list(module.val_metrics.keys()))

        # every checkpoint handed to Lightning is a local file, loaded as plain data (src/tasks/checkpoint.py)
        resume_from = local_file(cfg.ckpt_path) if cfg.ckpt_path else None
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        train_seconds = clock.train_seconds
        best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        best_val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        best_score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        if best_score is not None:  # the monitored metric at the best epoch, not the last one
            best_val[cfg.task.monitor] = float(best_score)
        # one dict per test dataloader (binary has two: test and test_long)
        # verbose=False: src.run.console logs the test metrics as a line (console and train.log), not a table
        tested = trainer.test(
            module,
            datamodule=datamodule,
            ckpt_path=local_file(best_ckpt) if best_ckpt else None,
            verbose=False,
            weights_only=True,
        )
        test = {k: v for per_loader in tested for k, v in per_loader.items()}

        metric = cfg.task.monitor.removeprefix("val/")
        results = Results(
            task=cfg.task.name,
            model=cfg.model.cell,
            overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
            monitor=cfg.task.monitor,
            monitor_mode=cfg.task.monitor_mode,
            best_val=best_val,
            test={k: float(v) for k, v in test.items()},
            epochs=trainer.current_epoch,
            global_step=trainer.global_step,
            train_seconds=round(train_seconds, 2),
            params=params,
            hidden_size=cfg.model.hidden_size,
            param_budget=cfg.model.get("param_budget"),
            threads=torch.get_num_threads(),
            best_ckpt=str(Path(best_ckpt).resolve()) if best_ckpt else None,
            pruned_at=prune.pruned_at if prune else None,
            run_dir=str(run_dir.resolve()),
            # the monitored metric per input length (src/analysis/lengths.py): results.json, and a curve in TensorBoard
            by_length=by_length(module.test_rows, metric, cfg.task.module.get("bleu_ngrams", 4)),
        ).to_dict()
        if trainer.is_global_zero:
            if results["by_length"]:  # a picture, not scalars: HPARAMS would show the last bucket as a column
                logger.experiment.add_figure(f"test/{metric}_by_length", length_figure(cfg, results))
            logger.experiment.flush()  # Lightning flushed at test end; these came after (and a run may end here)
            write_rows(run_dir / "test_predictions.jsonl", module.test_rows)
            write_json_atomically(run_dir / "results.json", results)
            log.info("results: %s", json.dumps({"best_val": best_val, "test": results["test"]}))
            if results["best_ckpt"]:  # outputs/latest.ckpt when the run is under outputs/
                best = Path(results["best_ckpt"])
                latest = link_latest(best)
                ckpt = os.path.relpath(latest) if latest else best
                log.info("best checkpoint %s; use it: python -m src.predict ckpt=%s --help", best, ckpt)
            log.info("finished: run folder %s", run_dir.resolve())
        return results
    except BaseException:
        if claimed:  # a resume stopped before its first checkpoint: the finished run is as it was
            restore(run_dir)
        raise
    finally:
        if claimed:
            release(run_dir)


def length_figure(cfg: DictConfig, results: dict):
    """The test metric per input length of this run (src/analysis/lengths.py), as a TensorBoard picture."""
    from matplotlib.figure import Figure

    from src.analysis.lengths import plot

    fig = Figure(figsize=(5, 3.2))
    plot(fig.add_subplot(), cfg.task.name, {cfg.model.cell: [results]})
    fig.tight_layout()
    return fig


def build_run(cfg: DictConfig):
    """The run's DataModule (set up) and task module, as train() and the benchmarks build them:
    threads and seed set, data found or downloaded, the spec handed to the task as plain data."""
    import lightning as L
    import torch

    from src.run.budget import core_args, fit_hidden_size

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build(cfg.task.data, "task.data")
    datamodule.prepare_data()
    datamodule.setup("fit")
    model, budget = core_args(cfg.model)
    spec = datamodule.spec.to_dict()
    if budget is not None:
        candidate = lambda core: build(cfg.task.module, "task.module", spec=spec, model=core, _convert_="all")  # noqa: E731
        model["hidden_size"], params = fit_hidden_size(candidate, model, budget)
        with open_dict(cfg):  # config.yaml and results.json say which size the budget chose
            cfg.model.hidden_size = model["hidden_size"]
        log.info("model.param_budget=%d: hidden_size %d, %d parameters", budget, model["hidden_size"], params)
    module = build(cfg.task.module, "task.module", spec=spec, model=model, _convert_="all")
    return datamodule, module


def build(node: DictConfig, where: str, **kwargs):
    """hydra.utils.instantiate, with what a user can fix as one UserError: a UserError raised inside
    the target as itself, and a ValueError about an argument (nn/ and the tasks check theirs, as
    "name=value ...") with the option's full name: `where.name` (e.g. task.module.attention), or
    `model.name` for the recurrent core's arguments."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, ValueError):
            name = str(cause).split("=", 1)[0]
            owner = where if name in node else "model" if name in kwargs.get("model", {}) else where
            raise UserError(f"{owner}.{cause}" if name.isidentifier() else f"{where}: {cause}") from None
        raise


def build_trainer(cfg: DictConfig, logger: RunLogger, extra_callbacks=(), **overrides) -> L.Trainer:
    """The Trainer of cfg.trainer with the callbacks of cfg.callbacks (the benchmark builds its own the same way)."""
    from lightning.pytorch.callbacks import ProgressBar

    # a callback set to null on the command line (callbacks.early_stopping=null) is left out
    callbacks = [build(c, "callbacks") for c in cfg.callbacks.values() if c is not None]
    bar = overrides.get("enable_progress_bar", cfg.trainer.get("enable_progress_bar"))
    if bar is None:  # a bar in a terminal; output to a file gets plain lines (src/run/console.py)
        bar = sys.stdout.isatty()
    if not bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    overrides = {**overrides, "enable_progress_bar": bar}
    return instantiate(cfg.trainer, logger=logger, callbacks=[*callbacks, *extra_callbacks], **overrides)
