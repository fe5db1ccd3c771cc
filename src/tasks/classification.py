"""Classify a whole sequence: a name -> its language."""

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torchmetrics import MaxMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from src.data.batching import Batch, pad
from src.data.vocab import CharVocab
from src.nn.classifier import SequenceClassifierNet
from src.tasks.base import RecurrentTask


class SequenceClassifier(RecurrentTask):
    """Logs train/loss, val/{loss,acc,f1,acc_best}, test/{loss,acc,f1} and a confusion matrix."""

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str = "names",
        embedding_dim: int = 64,
        dropout: float = 0.0,
        label_smoothing: float = 0.0,
        pooling: str = "last",
        symbol_dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "onecycle",
    ):
        self.save_hyperparameters(logger=False)
        super().__init__(lr, weight_decay, lr_schedule)
        self.vocab = CharVocab(spec["alphabet"])
        self.labels = list(spec["labels"])
        self.label_smoothing = label_smoothing
        n = len(self.labels)
        self.net = SequenceClassifierNet(
            len(self.vocab), n, embedding_dim, dropout, core=model, pooling=pooling, symbol_dropout=symbol_dropout
        )
        self.val_acc, self.test_acc = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average="micro")
        self.val_f1, self.test_f1 = MulticlassF1Score(n, average="macro"), MulticlassF1Score(n, average="macro")
        self.val_confusion = MulticlassConfusionMatrix(n)  # counts; normalised per row when drawn
        self.val_acc_best = MaxMetric()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(tokens, lengths)  # (B, C) logits

    def shared_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch.tokens, batch.lengths)
        loss = F.cross_entropy(logits, batch.targets, label_smoothing=self.label_smoothing)
        return loss, logits

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.shared_step(batch)
        self.log_train_loss(loss, len(batch.lengths))
        return loss

    def on_train_start(self) -> None:
        self.val_acc_best.reset()  # forget the sanity check's accuracy

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, logits = self.shared_step(batch)
        self.val_acc(logits, batch.targets)
        self.val_f1(logits, batch.targets)
        self.val_confusion(logits, batch.targets)
        size = len(batch.lengths)
        self.log("val/loss", loss, on_epoch=True, batch_size=size)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("val/f1", self.val_f1, on_epoch=True, batch_size=size)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)
        if not self.trainer.sanity_checking and isinstance(self.logger, TensorBoardLogger):
            self._log_confusion_matrix()
        self.val_confusion.reset()

    def _log_confusion_matrix(self) -> None:
        fig = Figure(figsize=(11, 10))  # no pyplot: no global figure state, no display needed
        ax = fig.subplots()
        counts = self.val_confusion.compute().float()  # (C, C), rows: true class
        shares = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)  # a language absent from val stays 0
        self.val_confusion.plot(val=shares, ax=ax, labels=self.labels, add_text=False)
        ax.set_title(f"validation confusion matrix (rows: true language, normalised), epoch {self.current_epoch}")
        fig.tight_layout()
        self.logger.experiment.add_figure("val/confusion_matrix", fig, global_step=self.current_epoch)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss, logits = self.shared_step(batch)
        self.test_acc(logits, batch.targets)
        self.test_f1(logits, batch.targets)
        size = len(batch.lengths)
        self.log("test/loss", loss, on_epoch=True, batch_size=size)
        self.log("test/acc", self.test_acc, on_epoch=True, batch_size=size)
        self.log("test/f1", self.test_f1, on_epoch=True, batch_size=size)

    @torch.no_grad()
    def classify(self, names: list[str], top_k: int) -> list[list[tuple[str, float]]]:
        """The top_k (label, probability) pairs for each name; names must be clean (see CharVocab.clean)."""
        tokens, lengths = pad([self.vocab.encode(name) for name in names])
        probs = self(tokens.to(self.device), lengths).softmax(dim=-1)  # (N, C)
        values, indices = probs.topk(min(top_k, len(self.labels)), dim=-1)
        return [
            [(self.labels[i], float(p)) for p, i in zip(row_p, row_i, strict=True)]
            for row_p, row_i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
