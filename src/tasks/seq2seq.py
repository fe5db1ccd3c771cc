"""Map a sequence to a sequence: encoder, decoder with attention, teacher forcing, greedy decoding."""

import random

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torchmetrics import MeanMetric, MinMetric
from torchmetrics.text import BLEUScore

from src.data.batching import IGNORE, PairBatch, pad
from src.nn.seq2seq import Seq2SeqNet
from src.tasks.base import RecurrentTask

START, END = 1, 2


class Seq2Seq(RecurrentTask):
    """Logs train/loss, val/loss, val/bleu, val/exact, test/bleu, test/exact (BLEU from torchmetrics
    on the output tokens, 0-1) and, at each validation, what the model makes of `probes`.

    spec: `src_symbols`, `tgt_symbols` (0 pad, 1 start, 2 end), `joiner` ("" for characters, " "
    for words) and `probes` (inputs to translate and log). References: the DataModule's
    `references(split)` (every reference of each item, by dataset index) when it has one, else the
    batch's own target.
    """

    def __init__(self, spec: dict, model: dict, task: str = "pairs", embedding_dim: int = 32, dropout: float = 0.0,
                 attention: str = "additive", teacher_forcing: float = 1.0, max_decode_length: int = 20,
                 bleu_ngrams: int = 2, lr: float = 1e-2, weight_decay: float = 0.0,
                 lr_schedule: str = "constant"):  # fmt: skip
        self.save_hyperparameters(logger=False)
        super().__init__(lr, weight_decay, lr_schedule)
        self.src_symbols, self.tgt_symbols = spec["src_symbols"], spec["tgt_symbols"]
        self.src_ids = {s: i for i, s in enumerate(self.src_symbols)}
        self.joiner, self.probes = spec.get("joiner", " "), list(spec.get("probes", []))
        self.teacher_forcing, self.max_decode_length = teacher_forcing, max_decode_length
        self.net = Seq2SeqNet(len(self.src_symbols), len(self.tgt_symbols), embedding_dim, dropout, core=model,
                              attention=attention)  # fmt: skip
        self.val_bleu, self.test_bleu = BLEUScore(n_gram=bleu_ngrams), BLEUScore(n_gram=bleu_ngrams)
        self.val_exact, self.test_exact = MeanMetric(), MeanMetric()
        self.val_loss_best = MinMetric()

    def forward(self, batch: PairBatch, teacher_forcing: float = 1.0) -> torch.Tensor:
        """Logits (B, T, V) for the target steps, each step fed the gold previous symbol with
        probability `teacher_forcing`, else the model's own guess."""
        keys, mask, state = self.net.encode(batch.src, batch.src_lengths)
        context, prev, steps = self.net.start_context(keys), batch.tgt_in[:, 0], []
        for t in range(batch.tgt_in.shape[1]):
            logits, state, context, _ = self.net.step(prev, state, context, keys, mask)
            steps.append(logits)
            if t + 1 < batch.tgt_in.shape[1]:
                gold = batch.tgt_in[:, t + 1]
                prev = gold if random.random() < teacher_forcing else logits.argmax(-1)
        return torch.stack(steps, dim=1)  # (B, T, V)

    def shared_step(self, batch: PairBatch, teacher_forcing: float = 1.0) -> torch.Tensor:
        logits = self(batch, teacher_forcing)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=IGNORE)

    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        loss = self.shared_step(batch, self.teacher_forcing)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch.src))
        return loss

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[list[list[int]], list[torch.Tensor]]:
        """The most likely symbol at each step until the end symbol: ids per input, and attention
        weights per input (T, S) when the model attends."""
        keys, mask, state = self.net.encode(src, src_lengths)
        context = self.net.start_context(keys)
        prev = torch.full((src.shape[0],), START, dtype=torch.long, device=src.device)
        out, attn, done = [], [], torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(self.max_decode_length):
            logits, state, context, weights = self.net.step(prev, state, context, keys, mask)
            prev = logits.argmax(-1)
            out.append(prev)
            if weights is not None:
                attn.append(weights)
            done |= prev == END
            if bool(done.all()):
                break
        ids = torch.stack(out, dim=1).tolist()  # (B, T)
        ids = [row[: row.index(END)] if END in row else row for row in ids]
        weights = torch.stack(attn, dim=1) if attn else None  # (B, T, S)
        return ids, [weights[i, : len(row) + 1] for i, row in enumerate(ids)] if weights is not None else []

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tgt_symbols[i] for i in ids if i > END]

    def decode(self, ids: list[int]) -> str:
        return self.joiner.join(self.tokens(ids))

    def _references(self, batch: PairBatch, prefix: str) -> list[list[str]]:
        """BLEU references (space-separated tokens) for each item of the batch."""
        lookup = getattr(self.trainer.datamodule, "references", None) if self._trainer else None
        if lookup is not None:
            every = lookup(prefix)
            return [[" ".join(ref.split() if self.joiner else ref) for ref in every[i]] for i in batch.index.tolist()]
        return [[" ".join(self.tokens([i for i in row.tolist() if i != IGNORE]))] for row in batch.tgt_out]

    def _evaluate(self, batch: PairBatch, prefix: str) -> None:
        loss = self.shared_step(batch)
        self.log(f"{prefix}/loss", loss, on_epoch=True, batch_size=len(batch.src))
        ids, _ = self.greedy(batch.src, batch.src_lengths)
        hyps = [" ".join(self.tokens(row)) for row in ids]
        refs = self._references(batch, prefix)
        bleu, exact = (self.val_bleu, self.val_exact) if prefix == "val" else (self.test_bleu, self.test_exact)
        bleu.update(hyps, refs)
        exact.update(torch.tensor([float(h in r) for h, r in zip(hyps, refs, strict=True)]))
        self.log(f"{prefix}/bleu", bleu, on_epoch=True, batch_size=len(batch.src))
        self.log(f"{prefix}/exact", exact, on_epoch=True, batch_size=len(batch.src))

    def validation_step(self, batch: PairBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        loss = self.trainer.callback_metrics.get("val/loss")
        if loss is not None:
            self.val_loss_best(loss)
            self.log("val/loss_best", self.val_loss_best.compute())
        if self.probes and not self.trainer.sanity_checking and isinstance(self.logger, TensorBoardLogger):
            lines = [f"{word} -> {out}" for word, out in zip(self.probes, self.translate(self.probes), strict=True)]
            self.logger.experiment.add_text("val/probes", "\n\n".join(lines), self.current_epoch)

    def test_step(self, batch: PairBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def encode_source(self, text: str) -> tuple[list[int], list[str]]:
        """Source ids (end added) and the tokens outside the vocabulary (mapped to id 3, <unk>, when
        the vocabulary has one; dropped otherwise)."""
        tokens = text.split() if self.joiner else list(text)
        unknown = [t for t in tokens if t not in self.src_ids]
        unk = self.src_ids.get("<unk>")
        ids = [self.src_ids.get(t, unk) for t in tokens]
        return [i for i in ids if i is not None] + [END], unknown

    def translate(self, texts: list[str]) -> list[str]:
        """Greedy output for each input (already normalised as the training data was)."""
        src, lengths = pad([self.encode_source(t)[0] for t in texts])
        ids, _ = self.greedy(src.to(self.device), lengths)
        return [self.decode(row) for row in ids]
