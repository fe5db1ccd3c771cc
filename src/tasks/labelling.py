"""Label every step of a sequence: the result bit of a sum (binary), the next letter (hello)."""

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics import MaxMetric, MeanMetric

from src.data.batching import IGNORE, Batch
from src.nn.labeller import StepLabellerNet
from src.tasks.base import RecurrentTask


class StepLabeller(RecurrentTask):
    """Logs train/loss, {val,test}/loss, {val,test}/<step>_acc (share of steps right) and
    {val,test}/seq_acc (share of sequences with every step right), val/seq_acc_best.

    spec: `inputs` and `outputs` (symbol lists; input id 0 is padding) and `test_sets`, the
    suffixes of the test dataloaders' metric names (["", "_long"] -> test/seq_acc, test/seq_acc_long).
    Examples rendered by the DataModule's `render(tokens, predictions)` go to TensorBoard as text.
    one_hot feeds one-hot input symbols instead of an embedding_dim-sized embedding.
    """

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str = "binary",
        step_name: str = "step",
        one_hot: bool = False,
        embedding_dim: int = 10,
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        examples: int = 4,
    ):
        self.save_hyperparameters(logger=False)
        super().__init__(lr, weight_decay, lr_schedule)
        self.step_name, self.examples = step_name, examples
        self.test_sets = list(spec.get("test_sets", [""]))
        vocab, classes = len(spec["inputs"]) + 1, len(spec["outputs"])
        self.net = StepLabellerNet(vocab, classes, 0 if one_hot else embedding_dim, dropout, core=model)
        self.seq_acc_best = MaxMetric()
        # one running mean per split and metric: steps right (weighted by steps), sequences right
        names = ["val"] + [f"test{suffix}" for suffix in self.test_sets]
        self.means = nn.ModuleDict({f"{n}_{kind}": MeanMetric() for n in names for kind in ("steps", "seqs")})

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(tokens, lengths)  # (B, T, C)

    def shared_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch.tokens, batch.lengths)  # (B, T, C)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)
        return loss, logits

    def _update_accuracies(self, logits: torch.Tensor, targets: torch.Tensor, split: str) -> None:
        real = targets != IGNORE  # (B, T)
        right = (logits.argmax(-1) == targets) & real
        self.means[f"{split}_steps"].update(right.sum() / real.sum(), weight=real.sum())
        self.means[f"{split}_seqs"].update((right | ~real).all(dim=1).float())  # (B,)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.shared_step(batch)
        self.log_train_loss(loss, len(batch.lengths))
        return loss

    def on_train_start(self) -> None:
        self.seq_acc_best.reset()

    def _evaluate(self, batch: Batch, prefix: str, suffix: str = "") -> torch.Tensor:
        loss, logits = self.shared_step(batch)
        split = f"{prefix}{suffix}"
        self._update_accuracies(logits, batch.targets, split)
        opts = {"on_epoch": True, "batch_size": len(batch.lengths), "add_dataloader_idx": False}
        self.log(f"{prefix}/loss{suffix}", loss, **opts)
        self.log(f"{prefix}/{self.step_name}_acc{suffix}", self.means[f"{split}_steps"], **opts)
        self.log(f"{prefix}/seq_acc{suffix}", self.means[f"{split}_seqs"], prog_bar=prefix == "val", **opts)
        return logits

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self._evaluate(batch, "val")
        if batch_idx == 0:
            self._first_val = (batch.tokens[: self.examples], logits[: self.examples].argmax(-1), batch.lengths)

    def on_validation_epoch_end(self) -> None:
        self.seq_acc_best(self.means["val_seqs"].compute())
        self.log("val/seq_acc_best", self.seq_acc_best.compute())
        render = getattr(self.trainer.datamodule, "render", None)
        if render and not self.trainer.sanity_checking and isinstance(self.logger, TensorBoardLogger):
            tokens, predicted, lengths = self._first_val
            lines = render(tokens.cpu(), predicted.cpu(), lengths[: len(tokens)])
            self.logger.experiment.add_text("val/examples", "\n\n".join(lines), self.current_epoch)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, "test", self.test_sets[dataloader_idx])

    @torch.no_grad()
    def label(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The most likely label id at every step: (B, T)."""
        return self(tokens.to(self.device), lengths).argmax(-1)
