"""What TensorBoard shows of a run beside every other run under one logdir (`tensorboard --logdir outputs`).

- `RunLogger`: Lightning's TensorBoardLogger without the `epoch` scalar Lightning adds to every
  logged dict (a chart of a straight line that sorted first on the dashboard).
- `LearningRate`: one `train/lr` curve, where Lightning's LearningRateMonitor drew one per parameter
  group (`lr-AdamW/pg1`, `pg2`: the tasks' two groups, with and without weight decay, share one rate).
- `log_hparams`: the run's row in the HPARAMS tab: its config, under the run folder's short name
  (`trial_name`). Only a session start summary is written, never an experiment summary: TensorBoard
  takes the first experiment summary it finds as the whole logdir's, so runs of several tasks showed
  the metric columns of one task only. Without one it builds the experiment from every run's
  hyperparameters and scalar tags, and each task's metrics are columns.
- `log_layout`: the CUSTOM SCALARS tab: per task, one chart per validation metric with every run
  that logs it, the monitored metric first.
"""

import re
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from torch.utils.tensorboard import SummaryWriter

# the time at the start of a run folder's name (outputs/names/<time>_gru) or a sweep folder's (multirun/<time>)
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(\.\d+)?")


class RunLogger(TensorBoardLogger):
    """The run folder's TensorBoard events, written straight into it (no version subfolder)."""

    def __init__(self, run_dir: Path):
        super().__init__(save_dir=run_dir, name="", version="", default_hp_metric=False)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}  # the x axis is the step; epochs are in the log
        if metrics:
            super().log_metrics(metrics, step)


class LearningRate(L.Callback):
    """`train/lr` as each training epoch starts: the rate of the first parameter group of the first
    optimizer (the tasks' groups differ in weight decay only; src/tasks/base.py)."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.logger is not None and trainer.optimizers:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            trainer.logger.log_metrics({"train/lr": lr}, step=trainer.global_step)


def trial_name(run_dir: Path) -> str:
    """The run's name in the HPARAMS table: what the run is, then when it started, which keeps names
    apart (runs of one name would be averaged into one row): `gru_model.hidden_size-64 @ 2026-11-23_10-00-00.1`
    for outputs/names/2026-11-23_10-00-00.1_gru_model.hidden_size-64, `0_model-rnn+task-names @ <sweep time>`
    for a sweep job, the folder's name for any other folder."""
    name, parent = run_dir.name, run_dir.parent.name
    stamp = STAMP.match(name)
    if stamp and name[stamp.end() :].lstrip("_"):
        return f"{name[stamp.end() :].lstrip('_')} @ {stamp.group()}"
    if STAMP.fullmatch(parent):
        return f"{name} @ {parent}"
    return name


def flat_config(cfg: DictConfig) -> dict:
    """The config as `group.key: value` (numbers, strings, booleans; None left out), without the
    callbacks and paths, which are the same for every run."""
    flat = {}

    def walk(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif value is not None and not str(key).startswith("_"):
                flat[f"{prefix}{key}"] = value if isinstance(value, int | float | str | bool) else str(value)

    walk(OmegaConf.to_container(cfg, resolve=True))
    return {k: v for k, v in flat.items() if not k.startswith(("callbacks.", "paths."))}


def log_hparams(writer: SummaryWriter, cfg: DictConfig, run_dir: Path) -> None:
    """The HPARAMS tab: this run's config, beside the last values of its scalars (TensorBoard reads
    the metric columns from the scalars themselves, so nothing is written twice)."""
    writer._get_file_writer().add_summary(hparams_pb(flat_config(cfg), trial_id=trial_name(Path(run_dir))))
    writer.flush()


def log_layout(writer: SummaryWriter, task: str, monitor: str, metrics: list[str]) -> None:
    """The CUSTOM SCALARS tab: a category per task (TensorBoard merges the runs' layouts by category
    title and drops repeated charts), one chart per validation metric with every run that logs it,
    the monitored metric first. `metrics`: the task's validation metric keys (val/acc, ...)."""
    tags = [monitor, *(m for m in metrics if m != monitor)]
    writer.add_custom_scalars({task: {tag: ["Multiline", [f"^{re.escape(tag)}$"]] for tag in tags}})
    writer.flush()
