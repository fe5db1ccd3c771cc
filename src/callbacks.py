"""InspectCells: what the cells do during training, in TensorBoard; PruneTrial: a study's trial
reporting to its study (src/study.py).

- `train/grad_norm`: the 2-norm of all gradients before clipping (Lightning's `grad_norm`; the
  Trainer clips after `on_before_optimizer_step`, to `trainer.gradient_clip_val`), at the steps the
  logger writes (`trainer.log_every_n_steps`);
- at the end of training: `val_cells/saturation` (gate saturation over the validation split, LSTM and
  GRU), `val_cells/states` and `val_cells/gates` of the first validation item (src/tasks/inspection.py).
  Under `val_cells/`, after `test/`, `train/` and `val/`: TensorBoard's TIME SERIES sorts its groups by
  name, and opened on a wall of gate heatmaps when these were `inspect/`.
"""

import logging

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import grad_norm

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
                cell = ins.readings(module, next(iter(loader)))[0].core.cell
                if cell != "rnn":
                    stats = ins.saturation(module, loader, self.max_items)
                    figure = ins.saturation_figure(stats, "gate saturation, val")
                    writer.add_figure("val_cells/saturation", figure, step)
                first = ins.first_item(next(iter(loader)))
                traced = ins.trace(module, first)
                symbols = ins.batch_symbols(module, first)
                writer.add_figure("val_cells/states", ins.states_figure(traced, symbols, "first val item"), step)
                gates = ins.gates_figure(traced, symbols, "first val item")
                if gates is not None:
                    writer.add_figure("val_cells/gates", gates, step)
        finally:
            module.train(was_training)


class PruneTrial(L.Callback):
    """For a study's trial (src/study.py `prune_callback`): after each validation epoch, report the
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
