"""Map a sequence to a sequence: encoder, decoder with attention, teacher forcing, greedy and beam
decoding, BLEU and exact match, and the attention of a few fixed inputs as a TensorBoard figure."""

import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure

from src.data.batching import IGNORE, PairBatch, pad
from src.data.specs import Seq2SeqSpec
from src.data.translate import normalize
from src.data.vocab import END, PAD, START, UNK
from src.errors import UserError
from src.nn.search import Hypothesis, Symbols, beam_search
from src.nn.seq2seq import Seq2SeqNet
from src.tasks.base import Option, RecurrentTask, StepOutput, int_up_to
from src.tasks.metrics import CorpusBLEU, ExactMatch, Picked, SymbolAccuracy, symbols_right

NORMALIZERS = {
    "words": normalize,
    "strip": str.strip,
    "lower": lambda text: text.strip().lower(),
}  # Seq2SeqSpec.normalize: raw text -> the training data's form


class Seq2Seq(RecurrentTask):
    """Logs {val,test}/loss, {val,test}/bleu, {val,test}/exact and val/*_best (BLEU on the output
    tokens, 0-1: src.analysis.stats.corpus_bleu, the project's one BLEU, through metrics.CorpusBLEU),
    and with `symbol_acc` (outputs that line up with their reference symbol by symbol: addition's sum
    bits) {val,test}/symbol_acc, the share of the reference's symbols right at their places.
    Validation decodes greedily; test decodes with
    `beam_size` (1: greedy) and, when that is more than 1, logs the greedy figures beside it as
    test/bleu_greedy and test/exact_greedy (and test/symbol_acc_greedy). References: the
    DataModule's `references(split)` (every reference of each item, by dataset index) when it has
    one, else the batch's own target.
    predict: `source<TAB>output` per input; `attention_plot=FILE` draws their attention."""

    spec_kind = Seq2SeqSpec
    OLDER_CHECKPOINTS = {"symbol_acc": False}  # runs before the per-symbol accuracy
    PREDICT_OPTIONS = {
        "beam_size": Option(int_up_to(1000), None, "use 1 (greedy) or more (default: the checkpoint's beam_size)"),
        "attention_plot": Option(str, None, "give an image file to write the attention to, e.g. att.png"),
    }

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str,
        embedding_dim: int,
        dropout: float,
        attention: str,
        teacher_forcing: float,
        max_decode_length: int,
        beam_size: int,
        length_penalty: float,
        bleu_ngrams: int,
        symbol_acc: bool,
        lr: float,
        weight_decay: float,
        lr_schedule: str,
    ):
        self.save_hyperparameters(logger=False)
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size}; use 1 (greedy) or more")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing={teacher_forcing}; use a share between 0 and 1")
        if not isinstance(symbol_acc, bool):
            raise ValueError(f"symbol_acc={str(symbol_acc)[:40]!r}; use true or false")
        super().__init__(spec, model, lr, weight_decay, lr_schedule)
        self.normalize = NORMALIZERS[self.spec.normalize]
        self.teacher_forcing, self.max_decode_length = teacher_forcing, max_decode_length
        self.beam_size, self.length_penalty = beam_size, length_penalty
        target = self.spec.target
        self.symbols = Symbols(target.id(START), target.id(END), (target.id(PAD), target.id(START)))

    def build_net(self, spec: Seq2SeqSpec, core: dict) -> Seq2SeqNet:
        hp = self.hparams
        return Seq2SeqNet(
            len(spec.source),
            len(spec.target),
            hp.embedding_dim,
            hp.dropout,
            core=core,
            attention=hp.attention,
            pad_id=spec.source.id(PAD),
        )

    def metrics(self, split: str) -> dict:
        n, symbols = self.hparams.bleu_ngrams, self.hparams.symbol_acc
        decodings = ("beam",) if split == "val" or self.hparams.beam_size == 1 else ("beam", "greedy")
        out = {}
        for key in decodings:
            suffix = "" if key == "beam" else "_greedy"
            out[f"bleu{suffix}"] = Picked(CorpusBLEU(n), key)
            out[f"exact{suffix}"] = Picked(ExactMatch(), key)
            if symbols:
                out[f"symbol_acc{suffix}"] = Picked(SymbolAccuracy(), key)
        return out

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

    def step(self, batch: PairBatch, split: str) -> StepOutput:
        real = batch.tgt_out != IGNORE  # (B, T)
        if split != "train" or self.teacher_forcing >= 1.0:  # the real steps alone (Seq2SeqNet.decode_real)
            memory, state = self.net.encode(batch.src, batch.src_lengths)
            logits = self.net.decode_real(batch.tgt_in, real.sum(1), state, memory)  # (N, V)
            loss = F.cross_entropy(logits, batch.tgt_out[real])
        else:
            logits = self(batch, self.teacher_forcing)  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=IGNORE)
        size = real.sum()
        if split == "train":
            return StepOutput(loss, size)
        beam = self.beam_size if split == "test" else 1
        outputs = {"beam": self._texts(self.search(batch.src, batch.src_lengths, beam))}
        if split == "test" and beam > 1:
            outputs["greedy"] = self._texts(self.search(batch.src, batch.src_lengths, 1))
        return StepOutput(loss, size, outputs, self._references(batch, split))

    def rows(self, batch: PairBatch, out: StepOutput) -> list[dict]:
        """Per item: source, first reference (all under `references`, for BLEU), output of the test
        decoding, teacher-forced loss per target symbol, source length in tokens, exact match, and
        with `symbol_acc` the share of the reference's symbols right (weighted by their count)."""
        logits = self(batch, 1.0)  # (B, T, V): the loss per item, which step() averages over the batch
        nll = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, ignore_index=IGNORE, reduction="none")
        symbols = (batch.tgt_out != IGNORE).sum(1)
        losses, weights = (nll.sum(1) / symbols).tolist(), symbols.tolist()  # test/loss is per target symbol
        source, joiner = self.spec.source, self.spec.joiner
        items = zip(batch.src.tolist(), (batch.src_lengths - 1).tolist(), out.preds["beam"], strict=True)
        rows = []
        for (ids, n, output), refs, loss, weight in zip(items, out.target, losses, weights, strict=True):
            row = {
                "input": joiner.join(source.decode(ids[:n])),
                "target": refs[0],
                "prediction": output,
                "loss": loss,
                "loss_weight": weight,
                "length": n,
                "references": refs,
                "exact": float(output in refs),
            }
            if self.hparams.symbol_acc:
                right, total = symbols_right(output, refs)
                row |= {"symbol_acc": right / max(total, 1), "symbol_acc_weight": total}
            rows.append(row)
        return rows

    def search(self, src: torch.Tensor, src_lengths: torch.Tensor, beam_size: int = 1) -> list[Hypothesis]:
        return beam_search(
            self.net, src, src_lengths, self.max_decode_length, self.symbols, beam_size, self.length_penalty
        )

    def tokens(self, ids: list[int]) -> list[str]:
        return self.spec.target.decode(ids)

    def decode(self, ids: list[int]) -> str:
        return self.spec.joiner.join(self.tokens(ids))

    def _texts(self, hyps: list[Hypothesis]) -> list[str]:
        return [" ".join(self.tokens(h.ids)) for h in hyps]

    def _references(self, batch: PairBatch, split: str) -> list[list[str]]:
        """BLEU references (space-separated tokens) for each item of the batch."""
        lookup = getattr(self.trainer.datamodule, "references", None) if self._trainer else None
        if lookup is not None:
            every = lookup(split)
            words = bool(self.spec.joiner)
            return [[" ".join(ref.split() if words else ref) for ref in every[i]] for i in batch.index.tolist()]
        return [[" ".join(self.tokens([i for i in row.tolist() if i != IGNORE]))] for row in batch.tgt_out]

    def log_evidence(self, writer, epoch: int) -> None:
        """Source / reference / output of the probes as a table, and their attention as a figure."""
        probes = self.spec.probes
        if not probes:
            return
        hyps = self.translate(probes)
        refs = self.spec.probe_references or [[] for _ in probes]
        rows = ["| source | reference | output |", "|---|---|---|"]
        rows += [
            f"| {src} | {' / '.join(ref) or '-'} | {self.decode(h.ids)} |"
            for src, ref, h in zip(probes, refs, hyps, strict=True)
        ]
        writer.add_text("val/probes", "\n".join(rows), epoch)
        if self.net.attention is not None:
            fig = attention_figure(
                [(self.source_tokens(s), self.tokens(h.ids), h.weights) for s, h in zip(probes[:4], hyps, strict=False)]
            )
            fig.suptitle(f"attention on validation inputs, epoch {epoch}")
            writer.add_figure("val/attention", fig, global_step=epoch)

    def source_tokens(self, text: str) -> list[str]:
        """Words, or characters with spaces left out unless the vocabulary has them (`101 + 11` reads
        as `101+11`)."""
        text = self.normalize(text)
        if self.spec.joiner:
            return text.split()
        return [c for c in text if not c.isspace() or c in self.spec.source]

    def encode_source(self, text: str) -> tuple[list[int], list[str]]:
        """Source ids (end added) of raw text, and its tokens outside the vocabulary (mapped to
        <unk> when the vocabulary has one, dropped otherwise)."""
        source = self.spec.source
        tokens = self.source_tokens(text)
        unknown = source.unknown(tokens)
        kept = tokens if UNK in source.specials else [t for t in tokens if t in source]
        return [*source.encode(kept), source.id(END)], unknown

    @torch.no_grad()
    def translate(self, texts: list[str], beam_size: int = 1) -> list[Hypothesis]:
        """The output for each raw input (normalised here as the training data was)."""
        src, lengths = pad([self.encode_source(t)[0] for t in texts], self.spec.source.id(PAD))
        return self.search(src.to(self.device), lengths, beam_size)

    def _predict(
        self, inputs: list[tuple[str, str]] | None, beam_size: int | None, attention_plot: str | None
    ) -> list[str]:
        """`source<TAB>output` per input; words outside the training vocabulary are read as <unk>
        with a warning (a UserError where the vocabulary has no <unk>: addition, pairs); attention_plot
        writes the attention of every input to one image."""
        if not inputs:
            raise UserError("give what to translate: input=TEXT or input_file=PATH")
        beam_size = self.beam_size if beam_size is None else beam_size
        plot = Path(attention_plot).expanduser() if attention_plot else None
        if plot is not None:
            if self.net.attention is None:
                raise UserError("this checkpoint was trained with attention=none: there is no attention to plot")
            if not plot.parent.is_dir():
                raise UserError(
                    f"attention_plot={attention_plot}: folder {plot.parent} does not exist; create it first"
                )
            if plot.suffix[1:].lower() not in FigureCanvasBase.get_supported_filetypes():
                raise UserError(
                    f"attention_plot={attention_plot}: not an image type matplotlib writes; use .png or .svg"
                )
        texts = []
        for where, text in inputs:
            if not self.source_tokens(text):
                kind = "a sentence" if self.spec.joiner else "a word"
                raise UserError(f"{where}: {text!r} is empty once normalised as the training data; give {kind}")
            unknown = self.encode_source(text)[1]
            if UNK not in self.spec.source.specials:  # nothing to read them as: say so, answer nothing
                strange = list(dict.fromkeys(unknown))
                if strange:
                    known = self.spec.source.tokens
                    shown = f": {' '.join(known)}" if len(known) <= 40 else ""
                    raise UserError(
                        f"{where}: {', '.join(map(repr, strange))} not in the training vocabulary, which has no "
                        f"<unk>; give only the symbols it was trained on{shown}"
                    )
                unknown = []
            if unknown:
                print(
                    f"warning: {where}: {' '.join(unknown)!r} not in the training vocabulary, read as <unk>",
                    file=sys.stderr,
                )
            texts.append(text)
        hyps = self.translate(texts, beam_size)
        if plot is not None:
            source = self.spec.source
            seen = lambda t: [w if w in source else UNK for w in self.source_tokens(t)]  # noqa: E731
            # every output step a row label, specials too (<unk>): decode() leaves them out of the text
            steps = lambda ids: [self.spec.target.itos[i] for i in ids]  # noqa: E731
            fig = attention_figure([(seen(t), steps(h.ids), h.weights) for t, h in zip(texts, hyps, strict=True)])
            try:
                fig.savefig(plot)
            except OSError as err:
                raise UserError(f"cannot write attention_plot={attention_plot} ({err.strerror or err})") from err
            print(f"attention of {len(texts)} input(s) written to {plot}", file=sys.stderr)
        return [f"{text}\t{self.decode(h.ids)}" for text, h in zip(texts, hyps, strict=True)]

    def encode_input(self, where: str, text: str, language: str | None) -> tuple[PairBatch, list[list[str]]]:
        """The source (end added) and, for the decoder to read, the greedy output of the model (start first)."""
        spec = self.spec
        source = self.source_tokens(text)
        unknown = spec.source.unknown(source)
        if not source or unknown:
            problem = "is not in the training vocabulary" if unknown else "is empty once normalised"
            raise UserError(
                f"{where}: {' '.join(unknown) or repr(text)} {problem}; give words the model was trained on"
            )
        src, src_lengths = pad([self.encode_source(text)[0]], spec.source.id(PAD))
        out = self.translate([text])[0].ids
        target = spec.target
        tgt_in = torch.tensor([[target.id(START), *out]])
        tgt_out = torch.tensor([[*out, target.id(END)]])
        batch = PairBatch(src, src_lengths, tgt_in, tgt_out, torch.tensor([0]))
        return batch, [[*source, END], [START, *self.tokens(out)]]

    def item_symbols(self, batch: PairBatch) -> list[list[str]]:
        """The source and the decoder's input (start + target) of the batch's first item."""
        s, t = int(batch.src_lengths[0]), int((batch.tgt_out[0] != IGNORE).sum())
        source = [self.spec.source.itos[i] for i in batch.src[0, :s].tolist()]
        return [source, [self.spec.target.itos[i] for i in batch.tgt_in[0, :t].tolist()]]


def attention_figure(items: list[tuple[list[str], list[str], torch.Tensor]], columns: int = 2) -> Figure:
    """One heatmap per (source tokens, output tokens, weights (outputs + end, source + end)):
    rows are output steps, columns source steps, darker is more weight; each titled with its source,
    one colour bar for all."""
    rows = (len(items) + columns - 1) // columns
    cols = min(columns, len(items))
    # no pyplot: no global state, no display needed; constrained: room for the titles and the colour bar
    fig = Figure(figsize=(5.5 * cols + 1, 4.5 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, (src, out, weights) in zip(axes, items, strict=False):
        image = ax.imshow(weights.float().numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(weights.shape[1]), [*src, END][: weights.shape[1]], rotation=60, ha="right")
        ax.set_yticks(range(weights.shape[0]), [*out, END][: weights.shape[0]])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        source = " ".join(src)
        ax.set_title(source if len(source) <= 40 else f"{source[:39]}…", fontsize=10)
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    if items:
        fig.colorbar(image, ax=list(axes[: len(items)]), shrink=0.8, label="attention weight")
    return fig
