"""Every callback of a run, by name: the Trainer's (conf/train.yaml `callbacks:` names them here) and
the sweep's. A new callback is defined here, or in the module whose subject it is and named here.

- `RunCheckpoint` (src/run/folder.py): checkpoints written whole, readable after the folder moves;
- `LearningRate` (src/run/dashboard.py): one `train/lr` curve;
- `ConsoleLog` (src/run/console.py): the run's story on the console and in train.log, stop signals;
- `ResumeState` (src/run/resume.py): random state and training seconds across resumes (train() adds it);
- `InspectCells` (below): what the cells do during training, in TensorBoard;
- `PruneTrial` (below): a study's trial reporting to its study (src/run/study.py);
- `CompareWhenSweepEnds` (below, a Hydra callback): every sweep ends with the compare table of its jobs.

InspectCells:
- `train/grad_norm`: the 2-norm of all gradients before clipping (Lightning's `grad_norm`; the
  Trainer clips after `on_before_optimizer_step`, to `trainer.gradient_clip_val`), at the steps the
  logger writes (`trainer.log_every_n_steps`);
- at the end of training: `val_cells/saturation` (gate saturation over the validation split, LSTM and
  GRU), `val_cells/states` and `val_cells/gates` of the first validation item (src/tasks/inspection.py).
  Under `val_cells/`, after `test/`, `train/` and `val/`: TensorBoard's TIME SERIES sorts its groups by
  name, and opened on a wall of gate heatmaps when these were `inspect/`. A transformer has no gates:
  `val_cells/note` says so, and `val_cells/attention` draws its attention maps of that item.
"""

import logging
import sys
from pathlib import Path

import lightning as L
import torch
from hydra.experimental.callback import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import grad_norm
from omegaconf import DictConfig

from src.errors import EXIT_USER_ERROR, UserError
from src.run.console import ConsoleLog
from src.run.dashboard import LearningRate
from src.run.folder import RunCheckpoint
from src.run.resume import ResumeState

__all__ = [
    "CompareWhenSweepEnds",
    "ConsoleLog",
    "InspectCells",
    "LearningRate",
    "PruneTrial",
    "ResumeState",
    "RunCheckpoint",
]

log = logging.getLogger(__name__)


class InspectCells(L.Callback):
    def __init__(self, max_items: int = 1000):
        self.max_items = max_items

    def on_before_optimizer_step(self, trainer: L.Trainer, module: L.LightningModule, optimizer) -> None:
        every = trainer.log_every_n_steps
        if every and (trainer.global_step + 1) % every == 0:
            norms = grad_norm(module, norm_type=2)
            if norms:
                module.log("train/grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not isinstance(trainer.logger, TensorBoardLogger):
            return
        from src.tasks import inspection as ins

        loader = trainer.datamodule.val_dataloader()
        writer, step = trainer.logger.experiment, trainer.global_step
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                first = next(iter(loader)).first()
                symbols = module.item_symbols(first)
                if not ins.replayable(module):  # a Transformer: one line, and its attention maps
                    log.info("InspectCells: %s", ins.NO_GATES)
                    writer.add_text("val_cells/note", ins.NO_GATES, step)
                    maps = ins.attention_figure(ins.attention(module, first), symbols, "first val item")
                    writer.add_figure("val_cells/attention", maps, step)
                    return
                cell = ins.readings(module, first)[0].core.cell
                if cell != "rnn":
                    stats = ins.saturation(module, loader, self.max_items)
                    figure = ins.saturation_figure(stats, "gate saturation, val")
                    writer.add_figure("val_cells/saturation", figure, step)
                traced = ins.trace(module, first)
                writer.add_figure("val_cells/states", ins.states_figure(traced, symbols, "first val item"), step)
                gates = ins.gates_figure(traced, symbols, "first val item")
                if gates is not None:
                    writer.add_figure("val_cells/gates", gates, step)
        finally:
            module.train(was_training)


class PruneTrial(L.Callback):
    """For a study's trial (src/run/study.py `prune_callback`): after each validation epoch, report the
    monitored metric to the study; when the study's pruner says the trial is hopeless, stop training
    (the run then tests its best checkpoint and records `pruned_at` in results.json, and the study
    marks the trial pruned)."""

    def __init__(self, trial, monitor: str, pruner: str):
        self.trial, self.monitor, self.pruner = trial, monitor, pruner
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(trainer.callback_metrics[self.monitor]), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.trial.set_user_attr("pruned_at", epoch)
            trainer.should_stop = True
            log.info("the study's %s pruner stops this trial after epoch %d", self.pruner, epoch + 1)


class CompareWhenSweepEnds(Callback):
    """Hydra callback: at the end of a sweep, print and save the compare table of its jobs."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from src.analysis.table import NotSaved, compare, find_runs  # scipy: imported when a sweep ends

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            print(compare(sweep_dir))
            print(f"\nsaved {sweep_dir / 'compare.md'} and compare.png; redo with: python -m src.compare {sweep_dir}")
        except NotSaved as err:
            print(err.report)
            print(f"compare: {err}", file=sys.stderr)
        except UserError as err:
            print(f"compare: {err}", file=sys.stderr)
        except Exception as err:  # noqa: BLE001 - Hydra would turn it into a warning and exit 0
            line = (str(err).strip().splitlines() or [""])[0][:200]
            print(
                f"error: compare could not finish ({type(err).__name__}: {line}); the runs are in {sweep_dir}",
                file=sys.stderr,
            )
            sys.exit(1)
        failed = [r for r in find_runs(sweep_dir) if r.why] if sweep_dir.is_dir() else []
        if failed:  # the sweep's exit status says so, as a single run's would
            first = failed[0]
            print(
                f"error: {len(failed)} job(s) failed, first {first.path.name}: {first.why}",
                file=sys.stderr,
            )
            sys.exit(EXIT_USER_ERROR)
