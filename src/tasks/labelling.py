"""Label every step of a sequence: the result bit of a sum (binary), the next letter (hello)."""

import torch
import torch.nn.functional as F

from src.data.batching import IGNORE, Batch, pad
from src.data.codecs import CODECS, StepProbe
from src.data.specs import LabellingSpec
from src.data.vocab import PAD
from src.errors import UserError
from src.nn.labeller import StepLabellerNet
from src.tasks.base import RecurrentTask, StepOutput
from src.tasks.metrics import SequenceAccuracy, StepAccuracy


class StepLabeller(RecurrentTask):
    """Logs {val,test}/loss, {val,test}/<step_name>_acc (share of steps right), {val,test}/seq_acc
    (share of sequences with every step right), each test set under its suffix (test/seq_acc_long),
    and the first `examples` validation examples as text. one_hot feeds one-hot input symbols
    instead of an embedding_dim-sized embedding. predict: the answer for each input
    (binary: "39 + 17" -> "39 + 17 = 56 (right)"; hello: "hello -> ohlol")."""

    spec_kind = LabellingSpec

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str,
        step_name: str,
        one_hot: bool,
        embedding_dim: int,
        dropout: float,
        lr: float,
        weight_decay: float,
        lr_schedule: str,
        examples: int,
    ):
        self.save_hyperparameters(logger=False)
        super().__init__(spec, model, lr, weight_decay, lr_schedule)
        self.codec = CODECS[self.spec.codec]
        self._first_val: tuple | None = None

    def build_net(self, spec: LabellingSpec, core: dict) -> StepLabellerNet:
        hp = self.hparams
        embedding = 0 if hp.one_hot else hp.embedding_dim
        return StepLabellerNet(
            len(spec.inputs), len(spec.outputs), embedding, hp.dropout, core=core, pad_id=spec.inputs.id(PAD)
        )

    def metrics(self, split: str) -> dict:
        return {f"{self.hparams.step_name}_acc": StepAccuracy(), "seq_acc": SequenceAccuracy()}

    def step(self, batch: Batch, split: str) -> StepOutput:
        logits = self.net(batch.tokens, batch.lengths)  # (B, T, C)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)
        return StepOutput(loss, (batch.targets != IGNORE).sum(), logits, batch.targets)

    def rows(self, batch: Batch, out: StepOutput) -> list[dict]:
        """Per sequence: its steps right (weighted by its steps, as <step_name>_acc is) and whether all are."""
        real = batch.targets != IGNORE  # (B, T)
        nll = F.cross_entropy(out.preds.transpose(1, 2), batch.targets, ignore_index=IGNORE, reduction="none")
        right = (out.preds.argmax(-1) == batch.targets) & real
        steps = real.sum(1)
        losses, shares = (nll.sum(1) / steps).tolist(), (right.sum(1) / steps).tolist()
        step_acc, outputs = f"{self.hparams.step_name}_acc", self.spec.outputs
        guesses = out.preds.argmax(-1).tolist()
        items = zip(batch.tokens.tolist(), guesses, batch.targets.tolist(), steps.tolist(), strict=True)
        rows = []
        for (ids, guess, truth, n), loss, share in zip(items, losses, shares, strict=True):
            rows.append(
                {
                    "input": self.codec.text_of(ids[:n], self.spec.inputs),
                    "target": "".join(outputs.decode(truth[:n])),
                    "prediction": "".join(outputs.decode(guess[:n])),
                    "loss": loss,
                    "loss_weight": n,  # test/loss is per step
                    "length": n,
                    step_acc: share,
                    f"{step_acc}_weight": n,
                    "seq_acc": float(share == 1.0),
                }
            )
        return rows

    def observe(self, split: str, batch: Batch, out: StepOutput) -> None:
        if split == "val" and self._first_val is None:
            n = self.hparams.examples
            self._first_val = (batch.tokens[:n], out.preds[:n].argmax(-1), batch.lengths[:n], batch.targets[:n])

    def log_evidence(self, writer, epoch: int) -> None:
        if self._first_val is not None:
            tokens, predicted, lengths, targets = (t.cpu().tolist() for t in self._first_val)
            lines = [
                self._render(ids[:n], labels[:n], truth[:n])
                for ids, labels, n, truth in zip(tokens, predicted, lengths, targets, strict=True)
            ]
            writer.add_text("val/examples", "\n\n".join(lines), epoch)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._first_val = None

    def _render(self, ids: list[int], labels: list[int], truth: list[int] | None = None) -> str:
        outputs = self.spec.outputs
        text = self.codec.text_of(ids, self.spec.inputs)
        return self.codec.render(text, outputs.decode(labels), None if truth is None else outputs.decode(truth))

    def _predict(self, inputs: list[tuple[str, str]] | None) -> list[str]:
        if not inputs:
            raise UserError("give what to label: input=TEXT or input_file=PATH")
        ids = []
        for where, text in inputs:
            try:
                ids.append(self.codec.encode(text.strip(), self.spec.inputs))
            except UserError as err:
                raise UserError(f"{where}: {err}") from None
        tokens, lengths = pad(ids, self.spec.inputs.id(PAD))
        labels = self.label(tokens, lengths).tolist()
        return [self._render(row, out[:n]) for row, out, n in zip(ids, labels, lengths.tolist(), strict=True)]

    @torch.no_grad()
    def label(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The most likely label id at every step: (B, T)."""
        return self.net(tokens.to(self.device), lengths).argmax(-1)

    def encode_input(self, where: str, text: str, language: str | None) -> tuple[Batch, list[list[str]]]:
        """The input symbols as the codec reads the text (binary: '39 + 17' -> bit pairs, least significant first)."""
        try:
            ids = self.codec.encode(text, self.spec.inputs)
        except UserError as err:
            raise UserError(f"{where}: {err}") from None
        tokens, lengths = pad([ids], self.spec.inputs.id(PAD))
        return Batch(tokens, lengths, None), [self.spec.inputs.decode(ids)]

    def item_symbols(self, batch: Batch) -> list[list[str]]:
        return [[self.spec.inputs.itos[i] for i in batch.tokens[0, : int(batch.lengths[0])].tolist()]]

    def step_probe(self) -> StepProbe | None:
        """binary: the carry (borrow) out of each step; hello: none."""
        return self.codec.probe(self.spec.inputs)
