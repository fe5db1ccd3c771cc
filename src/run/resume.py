"""Resume a run from its checkpoint as if it had never stopped.

- `check_resumable(cfg)`: one line, before anything is built, when the checkpoint cannot continue this
  command: another task, other model sizes, other `task.module.*` options (a resume restores the saved
  ones, so a changed value would be ignored while config.yaml claims it), or no epochs left to train.
- `ResumeState`: what a checkpoint needs beyond Lightning's own state: the random state (dropout,
  shuffling) at the end of the saved epoch, restored when training resumes, and the training seconds so
  far, so results.json adds the parts of a resumed run up. It also rebuilds the one-cycle schedule
  when the run is resumed with another length (a larger `trainer.max_epochs`, another batch size): the
  saved schedule would run out of steps.
"""

import random
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.errors import UserError
from src.run.budget import core_args
from src.tasks.checkpoint import checkpoint_task, load_module, read_checkpoint


def check_resumable(cfg: DictConfig) -> None:
    """Fail early, in one line, when ckpt_path cannot continue this run."""
    ckpt = read_checkpoint(cfg.ckpt_path)
    if checkpoint_task(ckpt) != cfg.task.name:
        raise UserError(
            f"{cfg.ckpt_path} is a {checkpoint_task(ckpt)} checkpoint; resume it with task={checkpoint_task(ckpt)}"
        )
    if not isinstance(ckpt.get("pytorch-lightning_version"), str) or not isinstance(
        ckpt["hyper_parameters"].get("model"), dict
    ):
        raise UserError(
            f"{cfg.ckpt_path} lacks what a resume needs (Lightning's version, the model's settings); "
            "resume from a checkpoint written by src.train"
        )
    load_module(ckpt)  # the saved module builds and its weights fit and are finite: one line if not
    saved = ckpt["hyper_parameters"]
    core, budget = core_args(cfg.model)
    wanted = {"model": core}
    if budget is not None:  # the budget chooses hidden_size again, the same way
        wanted["model"]["hidden_size"] = saved["model"].get("hidden_size")
    wanted |= {k: v for k, v in OmegaConf.to_container(cfg.task.module, resolve=True).items() if k in saved}
    changed = [
        f"model.{k}={saved['model'].get(k)}"
        for k in sorted(set(saved["model"]) | set(wanted["model"]))
        if saved["model"].get(k) != wanted["model"].get(k)
    ]
    changed += [f"task.module.{k}={saved[k]}" for k in wanted if k != "model" and saved[k] != wanted[k]]
    if changed:
        raise UserError(f"{cfg.ckpt_path} was trained with {', '.join(changed)}; resume with those settings")
    check_same_run(cfg)
    done = epochs_done(ckpt)
    if not cfg.trainer.get("fast_dev_run") and done >= cfg.trainer.max_epochs:
        raise UserError(
            f"{cfg.ckpt_path} has trained {done} epochs and trainer.max_epochs={cfg.trainer.max_epochs}: nothing "
            f"is left to train; to train longer, resume with trainer.max_epochs above {done}"
        )


# what a resume may change in task.data: how batches are cut, not which items are trained on
BATCHING = ("batch_size", "eval_batch_size", "num_workers", "bucketing", "data_dir")


def check_same_run(cfg: DictConfig) -> None:
    """A resume in the checkpoint's own run folder keeps that run's seed and data (its config.yaml,
    read as plain data): another seed or split would continue it on other items and shuffles while
    config.yaml claimed them. Batch sizes may change (the schedule is rebuilt)."""
    import yaml

    from src.run.folder import RUN_MARK, resumes_from

    run_dir = Path(cfg.paths.output_dir)
    if not resumes_from(run_dir, cfg.ckpt_path):
        return
    try:
        before = yaml.safe_load((run_dir / RUN_MARK).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # no config of a run to hold it to (check_resumable has checked the checkpoint itself)
    if not isinstance(before, dict):
        return
    data = before.get("task", {}).get("data") if isinstance(before.get("task"), dict) else None
    wanted = OmegaConf.to_container(cfg.task.data, resolve=True)
    changed = [f"seed={before['seed']}"] if "seed" in before and before["seed"] != cfg.seed else []
    if isinstance(data, dict):
        keys = sorted((set(data) | set(wanted)) - set(BATCHING))
        changed += [f"task.data.{k}={data.get(k)}" for k in keys if data.get(k) != wanted.get(k)]
    if changed:
        raise UserError(f"the run in {run_dir} was trained with {', '.join(changed)}; resume with those settings")


def epochs_done(ckpt: dict) -> int:
    """Whole epochs trained when the checkpoint was saved (it is written at the end of an epoch)."""
    progress = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    return int(progress.get("processed", ckpt.get("epoch", 0)))


class ResumeState(L.Callback):
    """The random state and the training seconds, saved in every checkpoint and restored on resume."""

    def __init__(self):
        self.seconds_before = 0.0  # training seconds of the parts before this one (from the checkpoint)
        self.started: float | None = None
        self.random_state: dict | None = None  # loaded from a checkpoint, restored as training starts

    @property
    def train_seconds(self) -> float:
        running = time.perf_counter() - self.started if self.started is not None else 0.0
        return self.seconds_before + running

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.started = time.perf_counter()
        if self.random_state is not None:
            set_random_state(self.random_state)
            self.random_state = None
        for config in trainer.lr_scheduler_configs:
            fit_schedule(config.scheduler, module, trainer.estimated_stepping_batches)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds_before, self.started = self.train_seconds, None

    def state_dict(self) -> dict:
        return {"train_seconds": self.train_seconds, "random_state": get_random_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds_before = float(state_dict.get("train_seconds", 0.0))
        self.random_state = state_dict.get("random_state")


def get_random_state() -> dict:
    """Python's, NumPy's and torch's generators as plain data (a checkpoint loads with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    random.setstate(tuple(tuple(part) if isinstance(part, list) else part for part in state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def fit_schedule(schedule, module: L.LightningModule, total_steps: int) -> None:
    """A one-cycle schedule restored from a run of another length goes on at its step, rebuilt for
    `total_steps` (the saved one would raise 'Tried to step N times' past its end)."""
    if not isinstance(schedule, torch.optim.lr_scheduler.OneCycleLR) or schedule.total_steps == total_steps:
        return
    _, fresh = module.optimizer_and_schedule(total_steps)
    state = fresh.state_dict()
    state.update(last_epoch=schedule.last_epoch, _step_count=schedule._step_count)
    schedule.load_state_dict(state)
