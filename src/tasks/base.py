"""The base of every task: it owns the Lightning hooks, so a task supplies only what is its own.

A task (one kind of problem) subclasses RecurrentTask and supplies:
- `build_net(spec, core)`: its network, from the typed spec and the recurrent core's config;
- `step(batch, split) -> StepOutput`: the loss, what it averages over, and what the metrics read;
- `metrics(split)`: its torchmetrics, by name (the base clones them per split with prefixes);
- optionally `observe(split, batch, out)` (per-batch evidence), `epoch_metrics()` (validation
  figures that are not per-batch averages) and `log_evidence(writer, epoch)` (TensorBoard figures
  and text after each validation);
- `predict(inputs, **options)` through `PREDICT_OPTIONS` and `_predict` (see `predict`);
- `rows(batch, out)`: one dict per test item, which train() writes to the run's
  test_predictions.jsonl (what compare's paired tests and per-length results read).
- for src.inspect and the InspectCells callback (src/tasks/inspection.py), with its network's
  `readings(batch)` and `forward_flops(batch)`: `encode_input(where, text, language)` (one raw input
  as a batch of one and the symbols each reading reads), `item_symbols(batch)`, and optionally
  `step_probe()` (a quantity of each step a unit should track: binary's carry).

The base logs train/loss_step and train/loss_epoch, {val,test}/loss, {val,test}/<metric> once an
epoch, and val/<metric>_best (the best value so far, kept in the checkpoint) for every validation
metric that has a direction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, MetricCollection

from src.data.specs import Spec, spec_from_dict
from src.errors import UserError
from src.tasks import LR_SCHEDULES

if TYPE_CHECKING:
    from src.data.codecs import StepProbe

# Written into every checkpoint so that predict and resume can tell what it is without guessing.
CHECKPOINT_KEY = "rnnlab"


class StepOutput(NamedTuple):
    loss: Tensor  # the mean loss of the batch
    size: Tensor | int  # how many items (or symbols) the mean is over: the weight of this batch's loss
    preds: Any = None  # what the metrics read (logits, decoded outputs); None in training
    target: Any = None
    items: Any = None  # (per-item losses, their weights) where the task's rows need them


@dataclass(frozen=True)
class Option:
    """One predict option: how to read it from the command line (a string) or Python, its default,
    and a line of help."""

    parse: Callable[[Any], Any]
    default: Any
    help: str


def number(value) -> float:
    """A predict option's value as a float (from the command line's string or Python's number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("not a number") from None


def positive_int(value) -> int:
    if isinstance(value, bool) or not number(value).is_integer() or number(value) < 1:
        raise ValueError("not a whole number of at least 1")
    return int(number(value))


def int_up_to(limit: int) -> Callable[[Any], int]:
    """A parser of whole numbers from 1 to `limit`: a stated limit, checked before anything is allocated."""

    def parse(value) -> int:
        if positive_int(value) > limit:
            raise ValueError(f"more than {limit:,}, the most one call takes")
        return int(number(value))

    return parse


class RecurrentTask(L.LightningModule):
    """Subclasses call `self.save_hyperparameters(logger=False)` first (the checkpoint keeps every
    argument: spec as plain data, model config, options), then `super().__init__(spec, model, ...)`."""

    spec_kind: type[Spec] = Spec
    PREDICT_OPTIONS: dict[str, Option] = {}
    # options added after checkpoints were first saved: the value a checkpoint without one was trained
    # with (the constructor has no default; the YAML sets every option), so older checkpoints still load
    OLDER_CHECKPOINTS: dict[str, object] = {}

    def __init__(self, spec: dict, model: dict, lr: float, weight_decay: float, lr_schedule: str):
        super().__init__()
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule={lr_schedule}; use one of {', '.join(LR_SCHEDULES)}")
        self.spec = spec_from_dict(spec)
        if not isinstance(self.spec, self.spec_kind):
            raise ValueError(f"{type(self).__name__} needs a {self.spec_kind.kind} spec, not {self.spec.kind}")
        self.lr, self.weight_decay, self.lr_schedule = lr, weight_decay, lr_schedule
        self.net = self.build_net(self.spec, model)
        self.val_loss = MeanMetric()
        val_metrics = self.metrics("val")
        self.val_metrics = MetricCollection(val_metrics, prefix="val/", compute_groups=False)
        # which way is better, for val/<name>_best: True higher, False lower (the loss), None no best kept
        self.directions = {"val/loss": False} | {f"val/{k}": m.higher_is_better for k, m in val_metrics.items()}
        self.test_losses = nn.ModuleList(MeanMetric() for _ in self.spec.test_sets)
        self.test_metrics = nn.ModuleList(
            MetricCollection(self.metrics("test"), prefix="test/", postfix=suffix, compute_groups=False)
            for suffix in self.spec.test_sets
        )
        self.best: dict[str, float] = {}  # val/<metric>_best so far
        self.test_rows: list[dict] = []  # one per test item of the last test, its set's suffix under "set"

    # --- what a task supplies -------------------------------------------------------------------
    def build_net(self, spec: Spec, core: dict) -> nn.Module:
        raise NotImplementedError

    def step(self, batch, split: str) -> StepOutput:
        raise NotImplementedError

    def metrics(self, split: str) -> dict[str, Metric]:
        return {}

    def observe(self, split: str, batch, out: StepOutput) -> None:
        """Per-batch evidence of val/test batches (a confusion matrix, the first examples)."""

    def rows(self, batch, out: StepOutput) -> list[dict]:
        """One dict per test item of the batch: `input`, `target`, `prediction` (text), `loss` (the
        item's mean loss) with `loss_weight` (what the item weighs in test/loss, e.g. its symbols: the
        weighted mean of the items' `loss` is test/loss), `length` (of the input, in the unit its
        per-length results use) and, per test metric that is a mean over items, its value for the
        item (`acc`: 1.0 or 0.0) with its weight under `<metric>_weight` when items weigh unequally
        (`nll_weight`: the symbols)."""
        return []

    def epoch_metrics(self) -> dict[str, float]:
        """Validation figures that are not batch averages (e.g. the novelty of sampled names)."""
        return {}

    def log_evidence(self, writer, epoch: int) -> None:
        """TensorBoard figures and text after a validation epoch (`writer`: a SummaryWriter)."""

    # --- what inspection reads (src/tasks/inspection.py; the network says its recurrent readings) --------
    def encode_input(self, where: str, text: str, language: str | None) -> tuple[Any, list[list[str]]]:
        """One raw input (stripped, not empty) as the network reads it: a batch of one, and the symbols
        each of the network's readings reads. UserError naming `where` for an input it cannot read."""
        raise UserError(f"a {self.hparams.task} checkpoint cannot be inspected")

    def item_symbols(self, batch) -> list[list[str]]:
        """The symbols each reading of the batch's first item reads (specials included)."""
        raise NotImplementedError

    def step_probe(self) -> "StepProbe | None":
        """A quantity of each input step that a hidden unit should track (binary: the carry), which
        src.inspect looks for; None when the data defines none."""
        return None

    # --- the loop ---------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        return self.net(*args, **kwargs)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss = self.step(batch, "train").loss
        self._loss_sum = self._loss_sum + loss.detach() * len(batch[0])
        self._loss_count += len(batch[0])
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def on_train_epoch_start(self) -> None:
        """train/loss_step is written only at the steps the logger writes, and train/loss_epoch (the
        batch-weighted mean) once: the keys `self.log(on_step=True, on_epoch=True)` would write,
        without its cost (~0.8 ms a call here, as long as a whole step of the small tasks)."""
        self._loss_sum, self._loss_count = torch.zeros((), device=self.device), 0

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            self.log("train/loss_epoch", self._loss_sum / self._loss_count, prog_bar=True, sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        out = self.step(batch, "val")
        self.val_loss.update(out.loss, weight=out.size)
        self.val_metrics.update(out.preds, out.target)
        self.observe("val", batch, out)

    def on_validation_epoch_end(self) -> None:
        values = {"val/loss": self.val_loss.compute(), **self.val_metrics.compute()}
        self.val_loss.reset()
        self.val_metrics.reset()
        if not self.trainer.sanity_checking:
            values.update(self.epoch_metrics())
            for name, value in list(values.items()):
                direction = self.directions.get(name)
                if direction is not None:
                    best = self.best.get(name)
                    value = float(value)
                    self.best[name] = value if best is None else (max if direction else min)(best, value)
                    values[f"{name}_best"] = self.best[name]
        self.log_dict(values, prog_bar=False, sync_dist=True)
        if not self.trainer.sanity_checking and isinstance(self.logger, TensorBoardLogger):
            self.log_evidence(self.logger.experiment, self.current_epoch)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        out = self.step(batch, "test")
        self.test_losses[dataloader_idx].update(out.loss, weight=out.size)
        self.test_metrics[dataloader_idx].update(out.preds, out.target)
        self.observe("test", batch, out)
        rows = self.rows(batch, out)
        self.test_rows += [{"set": self.spec.test_sets[dataloader_idx], **row} for row in rows]
        self._test_order += [(dataloader_idx, i) for i in batch.index[: len(rows)].tolist()]

    def on_test_epoch_start(self) -> None:
        self.test_rows, self._test_order = [], []  # rows, and (test set, item) of each

    def on_test_epoch_end(self) -> None:
        rows, where = self.test_rows, self._test_order
        if self.trainer.world_size > 1:  # under DDP each process tested its share (EvalBatches): gather all
            shares = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(shares, (rows, where))
            rows, where = [r for share in shares for r in share[0]], [w for share in shares for w in share[1]]
        # test batches come sorted by length: the rows go back to test set, then item order
        order = sorted(range(len(rows)), key=where.__getitem__)
        self.test_rows = [rows[i] for i in order]
        values = {}
        for suffix, loss, metrics in zip(self.spec.test_sets, self.test_losses, self.test_metrics, strict=True):
            values[f"test/loss{suffix}"] = loss.compute()
            values.update(metrics.compute())
            loss.reset()
            metrics.reset()
        self.log_dict(values, sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the class by its registry name (src/tasks/registry.py), never a dotted path to import
        checkpoint[CHECKPOINT_KEY] = {"task": self.hparams.task, "module": type(self).__name__, "best": self.best}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best = dict(checkpoint.get(CHECKPOINT_KEY, {}).get("best", {}))

    # --- optimisation -----------------------------------------------------------------------------
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
        # One cycle: warm up for 10% of the steps, then anneal to ~0 by the last step. OneCycleLR divides
        # by its warm-up's length less one step, so a warm-up of exactly one step (10 steps in all) would
        # divide by zero: two steps then.
        warm_up = 0.1 if total_steps != 10 else 0.2
        return optimizer, torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.lr, total_steps=total_steps, pct_start=warm_up
        )

    # --- use ----------------------------------------------------------------------------------------
    def predict(self, inputs: list[str] | list[tuple[str, str]] | None = None, **options) -> list[str]:
        """The output lines for `inputs` (raw texts, or (where, text) pairs whose `where`, e.g.
        FILE:LINE, error messages name; None for tasks that generate), with this task's options
        (PREDICT_OPTIONS: strings from the command line or values from Python). Any problem with
        them is a UserError naming the input or the option."""
        if isinstance(inputs, str):
            inputs = [inputs]
        if inputs is not None:
            inputs = [item if isinstance(item, tuple) else (f"input {i}", item) for i, item in enumerate(inputs, 1)]
        unknown = [k for k in options if k not in self.PREDICT_OPTIONS]
        if unknown:
            allowed = ", ".join(f"{k}=" for k in self.PREDICT_OPTIONS) or "none"
            raise UserError(
                f"{unknown[0]}= does not apply to a {self.hparams.task} checkpoint (its options: {allowed})"
            )
        values = {}
        for key, option in self.PREDICT_OPTIONS.items():
            raw = options.get(key, option.default)
            try:
                values[key] = raw if raw is None else option.parse(raw)
            except (TypeError, ValueError) as err:
                raise UserError(f"{key}={raw}: {err}; {option.help}") from None
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self._predict(inputs, **values)
        finally:
            self.train(was_training)

    def _predict(self, inputs: list[tuple[str, str]] | None, **options) -> list[str]:
        raise UserError(f"a {self.hparams.task} checkpoint has no predict")
