"""Classify a whole sequence: a name -> its language."""

import sys

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from src.data.batching import Batch, pad
from src.data.specs import ClassificationSpec
from src.data.vocab import PAD, fold_to_ascii
from src.errors import UserError
from src.nn.classifier import SequenceClassifierNet
from src.tasks.base import Option, RecurrentTask, StepOutput, positive_int

CLASS_BALANCE = ("none", "weights", "logit_adjust")


class SequenceClassifier(RecurrentTask):
    """Logs {val,test}/{loss,acc,f1,bal_acc} (f1: macro; bal_acc: the mean recall over labels),
    val/*_best, and after each validation its confusion matrix (val/confusion_matrix) and the names
    it got wrong (val/misclassified: name, true, predicted). predict: each name's `top_k` likeliest labels
    with their probabilities.

    class_balance: how the skewed label mix is met in training. `none`: plain cross-entropy;
    `weights`: each item weighted by 1 / its label's share (weights averaging 1 over the data);
    `logit_adjust`: the loss sees logits + log prior (Menon et al. 2021, "Long-tail learning via
    logit adjustment"), so the logits the model outputs, used as they are at test and predict,
    are the balanced ones.

    prior_tau: post-hoc logit adjustment (Menon et al. 2021, section 4): validation, test and predict
    rank the labels by logits - prior_tau * log prior, which favours the rarer labels; training is
    unchanged. 0 is off; 1 the full correction of a model trained on the skewed mix."""

    spec_kind = ClassificationSpec
    PREDICT_OPTIONS = {"top_k": Option(positive_int, 3, "give how many languages to show per name, e.g. top_k=3")}
    OLDER_CHECKPOINTS = {"prior_tau": 0.0}  # names runs before post-hoc adjustment ranked by the raw logits

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str,
        embedding_dim: int,
        dropout: float,
        label_smoothing: float,
        pooling: str,
        symbol_dropout: float,
        lr: float,
        weight_decay: float,
        lr_schedule: str,
        class_balance: str,
        prior_tau: float,
    ):
        self.save_hyperparameters(logger=False)
        if class_balance not in CLASS_BALANCE:
            raise ValueError(f"class_balance={class_balance} is unknown; use one of {', '.join(CLASS_BALANCE)}")
        if not 0 <= prior_tau <= 2:
            raise ValueError(f"prior_tau={prior_tau}; use a weight in [0, 2] (0: off, 1: the full correction)")
        super().__init__(spec, model, lr, weight_decay, lr_schedule)
        self.label_smoothing, self.class_balance, self.prior_tau = label_smoothing, class_balance, prior_tau
        counts = torch.tensor(self.spec.label_counts or [1] * len(self.spec.labels), dtype=torch.float)
        prior = counts.clamp(min=1) / counts.clamp(min=1).sum()
        self.register_buffer("log_prior", prior.log(), persistent=False)  # (C,)
        self.register_buffer("class_weights", 1 / (prior * len(prior)), persistent=False)  # (C,), mean over items 1
        self.val_confusion = MulticlassConfusionMatrix(len(self.spec.labels))  # counts; normalised per row when drawn
        self.misclassified: list[tuple[str, str, str]] = []  # this validation's (name, true, predicted)

    def build_net(self, spec: ClassificationSpec, core: dict) -> SequenceClassifierNet:
        hp = self.hparams
        return SequenceClassifierNet(
            len(spec.vocab),
            len(spec.labels),
            hp.embedding_dim,
            hp.dropout,
            core=core,
            pooling=hp.pooling,
            symbol_dropout=hp.symbol_dropout,
            pad_id=spec.vocab.id(PAD),
        )

    def metrics(self, split: str) -> dict:
        n = len(self.spec.labels)
        return {
            "acc": MulticlassAccuracy(n, average="micro"),
            "f1": MulticlassF1Score(n, average="macro"),
            "bal_acc": MulticlassAccuracy(n, average="macro"),
        }

    def step(self, batch: Batch, split: str) -> StepOutput:
        logits = self.net(batch.tokens, batch.lengths)  # (B, C)
        losses, weights = self.item_losses(logits, batch.targets)
        # the batch's loss is the weighted mean of its items', and weighs its items' weights in {val,test}/loss:
        # that loss over a test set is the weighted mean of the items' `loss` in test_predictions.jsonl
        total = weights.sum()
        loss = (losses * weights).sum() / total
        return StepOutput(loss, total, self.adjusted(logits), batch.targets, (losses, weights))

    def item_losses(self, logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Each item's loss as training defines it (on the logits it trains, logit-adjusted under
        class_balance=logit_adjust, with label smoothing) and its weight (its class's under
        class_balance=weights, else 1): F.cross_entropy's mean is their weighted mean."""
        trained = logits + self.log_prior if self.class_balance == "logit_adjust" else logits
        weights = self.class_weights if self.class_balance == "weights" else None
        smoothing = self.label_smoothing
        summed = F.cross_entropy(trained, targets, weight=weights, label_smoothing=smoothing, reduction="none")
        if weights is None:
            return summed, torch.ones_like(summed)
        item_weights = weights[targets]
        return summed / item_weights, item_weights

    def adjusted(self, logits: Tensor) -> Tensor:
        """The logits labels are ranked by: minus prior_tau x log prior (post-hoc adjustment)."""
        return logits - self.prior_tau * self.log_prior if self.prior_tau else logits

    def rows(self, batch: Batch, out: StepOutput) -> list[dict]:
        losses, weights = out.items  # as test/loss reads them (not on the post-hoc adjusted logits ranked by)
        labels, vocab = self.spec.labels, self.spec.vocab
        guesses = out.preds.argmax(-1).tolist()
        items = zip(batch.tokens.tolist(), batch.lengths.tolist(), out.target.tolist(), guesses, strict=True)
        return [
            {
                "input": "".join(vocab.decode(ids[:n])),
                "target": labels[t],
                "prediction": labels[p],
                "loss": loss,
                "loss_weight": weight,
                "length": n,
                "acc": float(p == t),
            }
            for (ids, n, t, p), loss, weight in zip(items, losses.tolist(), weights.tolist(), strict=True)
        ]

    def observe(self, split: str, batch: Batch, out: StepOutput) -> None:
        if split == "val":
            self.val_confusion.update(out.preds, out.target)
            guesses, targets = out.preds.argmax(-1).tolist(), out.target.tolist()
            labels, vocab = self.spec.labels, self.spec.vocab
            for ids, n, t, p in zip(batch.tokens.tolist(), batch.lengths.tolist(), targets, guesses, strict=True):
                if p != t:
                    self.misclassified.append(("".join(vocab.decode(ids[:n])), labels[t], labels[p]))

    def log_evidence(self, writer, epoch: int) -> None:
        counts = self.val_confusion.compute()  # (C, C), rows: true class
        title = f"validation confusion matrix, epoch {epoch}"
        writer.add_figure("val/confusion_matrix", confusion_figure(counts, self.spec.labels, title), global_step=epoch)
        writer.add_text("val/misclassified", misclassified_table(self.misclassified, int(counts.sum())), epoch)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.val_confusion.reset()
        self.misclassified = []

    def _predict(self, inputs: list[tuple[str, str]] | None, top_k: int) -> list[str]:
        """`name<TAB>Label:probability...` per input, likeliest first."""
        if not inputs:
            raise UserError("give the names to classify: input=NAME or input_file=PATH")
        names = []
        for where, text in inputs:
            name, dropped = self.spec.vocab.clean(text.strip())
            if not any(ch.isalpha() for ch in name):
                raise UserError(
                    f"{where}: {text!r} has no letters of the alphabet (a-z, A-Z, accents folded); give a name"
                )
            if dropped:
                print(f"warning: {where}: ignored {dropped!r} (not in the alphabet)", file=sys.stderr)
            names.append(name)
        ranked = self.classify(names, top_k)
        return [
            "\t".join([text] + [f"{label}:{p:.3f}" for label, p in row])
            for (_, text), row in zip(inputs, ranked, strict=True)
        ]

    @torch.no_grad()
    def classify(self, names: list[str], top_k: int) -> list[list[tuple[str, float]]]:
        """The top_k (label, probability) pairs for each name; names must be clean (see Vocab.clean)."""
        tokens, lengths = pad([self.spec.vocab.encode(name) for name in names], self.spec.vocab.id(PAD))
        probs = self.adjusted(self.net(tokens.to(self.device), lengths)).softmax(dim=-1)  # (N, C)
        values, indices = probs.topk(min(top_k, len(self.spec.labels)), dim=-1)
        return [
            [(self.spec.labels[i], float(p)) for p, i in zip(row_p, row_i, strict=True)]
            for row_p, row_i in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def encode_input(self, where: str, text: str, language: str | None) -> tuple[Batch, list[list[str]]]:
        """The name as the data was read ('Bélanger' -> 'Belanger'); a symbol outside the vocabulary is an error."""
        spec = self.spec
        text = fold_to_ascii(text)
        outside = sorted({ch for ch in text if ch not in spec.vocab or ch in spec.vocab.specials})
        if outside:
            allowed = "".join(spec.vocab.tokens)
            raise UserError(f"{where}: {text!r} has {''.join(outside)!r}, outside the vocabulary; use only {allowed}")
        tokens, lengths = pad([spec.vocab.encode(text)], spec.vocab.id(PAD))
        return Batch(tokens, lengths, None), [list(text)]

    def item_symbols(self, batch: Batch) -> list[list[str]]:
        return [[self.spec.vocab.itos[i] for i in batch.tokens[0, : int(batch.lengths[0])].tolist()]]


def confusion_figure(counts: torch.Tensor, labels: list[str], title: str) -> Figure:
    """The confusion matrix (rows: true label, columns: predicted), coloured by the share of the
    row (so a rare language's row is as readable as a common one's), each cell that is not 0 with
    its count written in it, and a colour bar for the shares."""
    counts = counts.cpu().long()  # (C, C)
    shares = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)  # a label absent from val stays 0
    size = max(5.0, 0.45 * len(labels) + 2.5)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")  # no pyplot: no global state, no display
    ax = fig.subplots()
    image = ax.imshow(shares.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    for row, line in enumerate(counts.tolist()):
        for col, count in enumerate(line):
            if count:
                color = "white" if shares[row, col] > 0.5 else "black"
                ax.text(col, row, str(count), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true label's items (the counts are written in)")
    return fig


def misclassified_table(rows: list[tuple[str, str, str]], total: int, limit: int = 50) -> str:
    """A markdown table of (name, true, predicted), the first `limit`, under a line saying how many of
    `total` were wrong."""
    shown = f"; the first {limit}:" if len(rows) > limit else ":"
    head = f"{len(rows)} of {total} validation names misclassified{shown}"
    lines = [head, "", "| name | true | predicted |", "|---|---|---|"]
    lines += [f"| {name} | {true} | {guess} |" for name, true, guess in rows[:limit]]
    return "\n".join(lines)
