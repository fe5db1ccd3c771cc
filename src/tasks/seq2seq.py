"""Map a sequence to a sequence: encoder, decoder with attention, teacher forcing, greedy and beam
decoding, BLEU and exact match, and the attention of a few fixed inputs as a TensorBoard figure."""

import random

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torchmetrics import MaxMetric, MeanMetric, MinMetric
from torchmetrics.text import BLEUScore

from src.data.batching import IGNORE, PairBatch, pad
from src.data.translate import normalize
from src.errors import UserError
from src.nn.search import END, Hypothesis, beam_search
from src.nn.seq2seq import Seq2SeqNet
from src.tasks.base import RecurrentTask

NORMALIZERS = {"words": normalize}  # spec["normalize"]: how raw text becomes the training data's form


class Seq2Seq(RecurrentTask):
    """Logs train/loss, val/loss, val/loss_best, val/bleu, val/bleu_best, val/exact, test/loss,
    test/bleu, test/exact (BLEU from torchmetrics on the output tokens, 0-1). Validation decodes
    greedily; test decodes with `beam_size` (1: greedy) and, when that is more than 1, logs the
    greedy figures beside it as test/bleu_greedy and test/exact_greedy.

    spec: `src_symbols`, `tgt_symbols` (0 pad, 1 start, 2 end), `joiner` ("" for characters, " "
    for words), `probes` (inputs shown in TensorBoard at each validation, with `probe_references`
    when known) and `normalize` ("words": the translate task's text normalisation at predict time).
    References: the DataModule's `references(split)` (every reference of each item, by dataset
    index) when it has one, else the batch's own target.
    """

    def __init__(self, spec: dict, model: dict, task: str = "pairs", embedding_dim: int = 32, dropout: float = 0.0,
                 attention: str = "additive", teacher_forcing: float = 1.0, max_decode_length: int = 20,
                 beam_size: int = 1, length_penalty: float = 1.0, bleu_ngrams: int = 2, lr: float = 1e-2,
                 weight_decay: float = 0.0, lr_schedule: str = "constant"):  # fmt: skip
        self.save_hyperparameters(logger=False)
        super().__init__(lr, weight_decay, lr_schedule)
        if beam_size < 1:
            raise UserError(f"beam_size={beam_size}; use 1 (greedy) or more")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise UserError(f"task.module.teacher_forcing={teacher_forcing}; use a share between 0 and 1")
        self.src_symbols, self.tgt_symbols = spec["src_symbols"], spec["tgt_symbols"]
        self.src_ids = {s: i for i, s in enumerate(self.src_symbols)}
        self.joiner, self.probes = spec.get("joiner", " "), list(spec.get("probes", []))
        self.probe_references = list(spec.get("probe_references", []))
        self.normalize = NORMALIZERS.get(spec.get("normalize"), lambda text: text.strip())
        self.teacher_forcing, self.max_decode_length = teacher_forcing, max_decode_length
        self.beam_size, self.length_penalty = beam_size, length_penalty
        self.net = Seq2SeqNet(len(self.src_symbols), len(self.tgt_symbols), embedding_dim, dropout, core=model,
                              attention=attention)  # fmt: skip
        self.val_bleu, self.test_bleu = BLEUScore(n_gram=bleu_ngrams), BLEUScore(n_gram=bleu_ngrams)
        self.val_exact, self.test_exact = MeanMetric(), MeanMetric()
        self.test_bleu_greedy, self.test_exact_greedy = BLEUScore(n_gram=bleu_ngrams), MeanMetric()
        self.val_loss_best, self.val_bleu_best = MinMetric(), MaxMetric()

    def forward(self, batch: PairBatch, teacher_forcing: float = 1.0) -> torch.Tensor:
        """Logits (B, T, V) for the target steps. With teacher_forcing 1 every step is fed the gold
        previous symbol, all in one decoder call; below 1, step by step, each step is fed the gold
        symbol with that probability, else the model's own guess."""
        memory, state = self.net.encode(batch.src, batch.src_lengths)
        if teacher_forcing >= 1.0:
            return self.net.decode(batch.tgt_in, state, memory)[0]
        prev, steps = batch.tgt_in[:, :1], []
        for t in range(batch.tgt_in.shape[1]):
            logits, state, _ = self.net.decode(prev, state, memory)
            steps.append(logits)
            if t + 1 < batch.tgt_in.shape[1]:
                gold = batch.tgt_in[:, t + 1 : t + 2]
                prev = gold if random.random() < teacher_forcing else logits.argmax(-1)
        return torch.cat(steps, dim=1)  # (B, T, V)

    def shared_step(self, batch: PairBatch, teacher_forcing: float = 1.0) -> torch.Tensor:
        logits = self(batch, teacher_forcing)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=IGNORE)

    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        loss = self.shared_step(batch, self.teacher_forcing)
        self.log_train_loss(loss, len(batch.src))
        return loss

    def search(self, src: torch.Tensor, src_lengths: torch.Tensor, beam_size: int = 1) -> list[Hypothesis]:
        return beam_search(self.net, src, src_lengths, self.max_decode_length, beam_size, self.length_penalty)

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

    def _score(self, batch: PairBatch, refs: list[list[str]], beam_size: int, bleu, exact) -> None:
        hyps = [" ".join(self.tokens(h.ids)) for h in self.search(batch.src, batch.src_lengths, beam_size)]
        bleu.update(hyps, refs)
        exact.update(torch.tensor([float(h in r) for h, r in zip(hyps, refs, strict=True)]))

    def validation_step(self, batch: PairBatch, batch_idx: int) -> None:
        size = len(batch.src)
        self.log("val/loss", self.shared_step(batch), on_epoch=True, batch_size=size)
        self._score(batch, self._references(batch, "val"), 1, self.val_bleu, self.val_exact)
        self.log("val/bleu", self.val_bleu, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("val/exact", self.val_exact, on_epoch=True, batch_size=size)

    def on_validation_epoch_end(self) -> None:
        metrics = self.trainer.callback_metrics
        if "val/loss" in metrics:
            self.val_loss_best(metrics["val/loss"])
            self.log("val/loss_best", self.val_loss_best.compute())
        if "val/bleu" in metrics and not self.trainer.sanity_checking:
            self.val_bleu_best(metrics["val/bleu"])
            self.log("val/bleu_best", self.val_bleu_best.compute())
        if self.probes and not self.trainer.sanity_checking and isinstance(self.logger, TensorBoardLogger):
            self._log_probes()

    def _log_probes(self) -> None:
        """Source / reference / output of the probes as a table, and their attention as a figure."""
        hyps = self.translate(self.probes)
        refs = self.probe_references or [[] for _ in self.probes]
        rows = ["| source | reference | output |", "|---|---|---|"]
        rows += [f"| {src} | {' / '.join(ref) or '-'} | {self.decode(h.ids)} |"
                 for src, ref, h in zip(self.probes, refs, hyps, strict=True)]  # fmt: skip
        self.logger.experiment.add_text("val/probes", "\n".join(rows), self.current_epoch)
        if self.net.attention is not None:
            fig = attention_figure([(self.source_tokens(s), self.tokens(h.ids), h.weights)
                                    for s, h in zip(self.probes[:4], hyps, strict=False)])  # fmt: skip
            fig.suptitle(f"attention on validation inputs, epoch {self.current_epoch}")
            self.logger.experiment.add_figure("val/attention", fig, global_step=self.current_epoch)

    def test_step(self, batch: PairBatch, batch_idx: int) -> None:
        size, refs = len(batch.src), self._references(batch, "test")
        self.log("test/loss", self.shared_step(batch), on_epoch=True, batch_size=size)
        self._score(batch, refs, self.beam_size, self.test_bleu, self.test_exact)
        self.log("test/bleu", self.test_bleu, on_epoch=True, batch_size=size)
        self.log("test/exact", self.test_exact, on_epoch=True, batch_size=size)
        if self.beam_size > 1:
            self._score(batch, refs, 1, self.test_bleu_greedy, self.test_exact_greedy)
            self.log("test/bleu_greedy", self.test_bleu_greedy, on_epoch=True, batch_size=size)
            self.log("test/exact_greedy", self.test_exact_greedy, on_epoch=True, batch_size=size)

    def source_tokens(self, text: str) -> list[str]:
        text = self.normalize(text)
        return text.split() if self.joiner else list(text)

    def encode_source(self, text: str) -> tuple[list[int], list[str]]:
        """Source ids (end added) of raw text, and its tokens outside the vocabulary (mapped to
        <unk> when the vocabulary has one, dropped otherwise)."""
        tokens = self.source_tokens(text)
        unknown = [t for t in tokens if t not in self.src_ids]
        unk = self.src_ids.get("<unk>")
        ids = [self.src_ids.get(t, unk) for t in tokens]
        return [i for i in ids if i is not None] + [END], unknown

    @torch.no_grad()
    def translate(self, texts: list[str], beam_size: int = 1) -> list[Hypothesis]:
        """The output for each raw input (normalised here as the training data was)."""
        src, lengths = pad([self.encode_source(t)[0] for t in texts])
        return self.search(src.to(self.device), lengths, beam_size)


def attention_figure(items: list[tuple[list[str], list[str], torch.Tensor]], columns: int = 2) -> Figure:
    """One heatmap per (source tokens, output tokens, weights (outputs + end, source + end)):
    rows are output steps, columns source steps, darker is more weight."""
    rows = (len(items) + columns - 1) // columns
    cols = min(columns, len(items))
    fig = Figure(figsize=(5.5 * cols, 4.5 * rows))  # no pyplot: no global state, no display needed
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, (src, out, weights) in zip(axes, items, strict=False):
        ax.imshow(weights.float().numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(weights.shape[1]), [*src, "<eos>"][: weights.shape[1]], rotation=60, ha="right")
        ax.set_yticks(range(weights.shape[0]), [*out, "<eos>"][: weights.shape[0]])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig
