"""What every task's LightningModule shares: optimiser and schedule, and checkpoint metadata."""

import lightning as L
import torch

# Written into every checkpoint so that predict and resume can tell what it is without guessing.
CHECKPOINT_KEY = "rnnlab"


class RecurrentTask(L.LightningModule):
    """Base of the task modules. Subclasses call `super().__init__(lr, weight_decay, lr_schedule)`
    after `save_hyperparameters(logger=False)` (train.py logs the full config to TensorBoard)."""

    task: str = ""

    def __init__(self, lr: float, weight_decay: float, lr_schedule: str):
        super().__init__()
        if lr_schedule not in ("onecycle", "constant"):
            raise ValueError(f"lr_schedule={lr_schedule}; use onecycle or constant")
        self.lr, self.weight_decay, self.lr_schedule = lr, weight_decay, lr_schedule

    def log_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """train/loss_step at the steps the logger writes (every trainer.log_every_n_steps; the
        progress bar shows the latest) and train/loss_epoch, the batch-weighted mean, at epoch end.

        The same keys `self.log("train/loss", on_step=True, on_epoch=True)` writes, without calling
        it every step: in Lightning 2.6 each call walks its result collection (~0.8 ms on this
        machine), as long as a whole training step of the small tasks (binary, hello, pairs).
        """
        if self._trainer is None:  # called outside a Trainer (the speed benchmark's bare loop): nothing to log to
            return
        self._loss_sum = self._loss_sum + loss.detach() * batch_size
        self._loss_count += batch_size
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = torch.zeros((), device=self.device), 0

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            self.log("train/loss_epoch", self._loss_sum / self._loss_count, prog_bar=True)

    def configure_optimizers(self):
        optimizer, schedule = self.optimizer_and_schedule(self.trainer.estimated_stepping_batches)
        if schedule is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def optimizer_and_schedule(self, total_steps: int):
        """AdamW, and the one-cycle schedule (stepped per batch) or None; also used by the bare
        PyTorch loop of the speed benchmark, so both loops optimise alike."""
        # Weight decay on matrices only: decaying biases, embeddings' padding row or norms buys nothing.
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
        )
        if self.lr_schedule == "constant":
            return optimizer, None
        # One cycle: warm up for 10% of the steps, then anneal to ~0 by the last step.
        return optimizer, torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.lr, total_steps=total_steps, pct_start=0.1
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the class by its registry name (src/tasks/registry.py), never a dotted path to import
        checkpoint[CHECKPOINT_KEY] = {"task": self.hparams.task, "module": type(self).__name__}
