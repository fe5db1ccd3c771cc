"""What a trained task's recurrent cells do inside: states and gates step by step, gate saturation
over a data split, gradient flow through time, and (binary) the unit that holds the carry. Used by
`python -m src.inspect` and by the InspectCells callback (TensorBoard at the end of training).

Every task's cores are read the way its network reads them (`readings`): the core of names, dinos,
binary and hello, the encoder and decoder of pairs and translate (the decoder fed the gold target,
or the greedy output of a raw input, and started from the encoder's bridged state).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from src.data.batching import IGNORE, Batch, PairBatch, pad, to_device
from src.data.binary import INPUTS as BIT_PAIRS
from src.data.codecs import CODECS
from src.data.specs import ClassificationSpec, LabellingSpec, LanguageModelSpec, Seq2SeqSpec
from src.data.vocab import END, PAD, START, fold_to_ascii
from src.errors import UserError
from src.nn.gates import GATES, SIGMOID_GATES, Trace, gradient_flow, replay
from src.nn.recurrent import RecurrentCore, State
from src.tasks.base import RecurrentTask

LOW, HIGH = 0.1, 0.9  # a sigmoid gate below LOW is nearly shut, above HIGH nearly open (Karpathy et al. 2015)

# (issue 28) model=transformer: nothing here replays it; src.inspect and InspectCells say so in this line
NO_GATES = (
    "a Transformer has no gates and no recurrent state to replay: states, gates, gate saturation and "
    "gradient flow through time do not apply to it"
)


def replayable(task: RecurrentTask) -> bool:
    """Whether the task's cores are recurrent cells whose states and gates `replay` reconstructs."""
    net = task.net
    return (net.encoder if hasattr(net, "encoder") else net.core).cell in GATES


@dataclass
class Reading:
    """One recurrent core and what it reads: inputs (B, T, I), lengths (B,), initial state, and the
    task's per-step output head when it has one (top-layer outputs (B, D*H) -> logits)."""

    name: str  # core, encoder or decoder
    core: RecurrentCore
    x: Tensor
    lengths: Tensor
    state: State | None = None
    head: Callable[[Tensor], Tensor] | None = None


def readings(task: RecurrentTask, batch: Batch | PairBatch) -> list[Reading]:
    """The cores of `task` and their inputs for `batch`, a loader's batch on any device (it is moved
    to the task's), in eval mode: no dropout."""
    net, spec = task.net, task.spec
    batch = to_device(batch, task.device)
    if isinstance(spec, Seq2SeqSpec):
        src = net.src_embed(batch.src)  # (B, S, E)
        _, state = net.encoder(src, batch.src_lengths)
        tgt_lengths = (batch.tgt_out != IGNORE).sum(1).cpu()  # start + target: as long as target + end
        return [Reading("encoder", net.encoder, src, batch.src_lengths.cpu()),
                Reading("decoder", net.decoder, net.tgt_embed(batch.tgt_in), tgt_lengths,
                        net.encoder.bridge(state))]  # fmt: skip
    tokens = batch.tokens
    if isinstance(spec, LabellingSpec):
        x = F.one_hot(tokens, net.vocab_size).float() if net.embed is None else net.embed(tokens)
        return [Reading("core", net.core, x, batch.lengths.cpu(), head=net.head)]
    if isinstance(spec, LanguageModelSpec):
        return [Reading("core", net.core, net.embed(tokens), batch.lengths.cpu(), head=lambda o: net.head(net.proj(o)))]
    return [Reading("core", net.core, net.embed(tokens), batch.lengths.cpu())]


def encode_input(task: RecurrentTask, where: str, text: str, language: str | None = None):
    """One raw input as the task encodes it: (a batch of one, the symbols each reading reads).
    UserError naming `where` for an input outside the vocabulary."""
    spec = task.spec
    text = text.strip()
    if not text:
        raise UserError(f"{where}: the input is empty; give some text")
    if isinstance(spec, ClassificationSpec):
        text = fold_to_ascii(text)  # as the data was read: 'Bélanger' -> 'Belanger'
        outside = sorted({ch for ch in text if ch not in spec.vocab or ch in spec.vocab.specials})
        if outside:
            raise UserError(f"{where}: {text!r} has {''.join(outside)!r}, outside the vocabulary; use only "
                            f"{''.join(spec.vocab.tokens)}")  # fmt: skip
        tokens, lengths = pad([spec.vocab.encode(text)], spec.vocab.id(PAD))
        return Batch(tokens, lengths, None), [list(text)]
    if isinstance(spec, LabellingSpec):
        try:
            ids = CODECS[spec.codec].encode(text, spec.inputs)
        except UserError as err:
            raise UserError(f"{where}: {err}") from None
        tokens, lengths = pad([ids], spec.inputs.id(PAD))
        return Batch(tokens, lengths, None), [spec.inputs.decode(ids)]
    if isinstance(spec, LanguageModelSpec):
        task.check_language(language)
        start = spec.condition_token(language) if spec.conditions else END
        text = task.word(text, f"{where}: {text!r}")
        ids = [spec.vocab.stoi[start], *spec.vocab.encode(text)]
        return Batch(torch.tensor([ids]), torch.tensor([len(ids)]), None), [[start, *text]]
    source = task.source_tokens(text)
    unknown = spec.source.unknown(source)
    if not source or unknown:
        problem = "is not in the training vocabulary" if unknown else "is empty once normalised"
        raise UserError(f"{where}: {' '.join(unknown) or repr(text)} {problem}; give words the model was trained on")
    src, src_lengths = pad([task.encode_source(text)[0]], spec.source.id(PAD))
    out = task.translate([text])[0].ids
    target = spec.target
    tgt_in = torch.tensor([[target.id(START), *out]])
    tgt_out = torch.tensor([[*out, target.id(END)]])
    batch = PairBatch(src, src_lengths, tgt_in, tgt_out, torch.tensor([0]))
    return batch, [[*source, END], [START, *task.tokens(out)]]


def first_item(batch: Batch | PairBatch) -> Batch | PairBatch:
    """The batch's first item as a batch of one, cut to its own length."""
    if isinstance(batch, PairBatch):
        s, t = int(batch.src_lengths[0]), int((batch.tgt_out[0] != IGNORE).sum())
        return PairBatch(batch.src[:1, :s], batch.src_lengths[:1], batch.tgt_in[:1, :t], batch.tgt_out[:1, :t],
                         batch.index[:1])  # fmt: skip
    n = int(batch.lengths[0])
    return Batch(batch.tokens[:1, :n], batch.lengths[:1], batch.targets[:1])


def batch_symbols(task: RecurrentTask, batch: Batch | PairBatch) -> list[list[str]]:
    """The symbols each reading of the batch's first item reads (specials included)."""
    spec = task.spec
    if isinstance(batch, PairBatch):
        s, t = int(batch.src_lengths[0]), int((batch.tgt_out[0] != IGNORE).sum())
        return [[spec.source.itos[i] for i in batch.src[0, :s].tolist()],
                [spec.target.itos[i] for i in batch.tgt_in[0, :t].tolist()]]  # fmt: skip
    vocab = spec.inputs if isinstance(spec, LabellingSpec) else spec.vocab
    return [[vocab.itos[i] for i in batch.tokens[0, : int(batch.lengths[0])].tolist()]]


def trace(task: RecurrentTask, batch) -> list[tuple[Reading, list[Trace]]]:
    """Each reading of `batch` with its replayed traces (no gradients), on the task's device."""
    with torch.no_grad():
        return [(r, replay(r.core, r.x, r.lengths, r.state)[0]) for r in readings(task, batch)]


# --- statistics --------------------------------------------------------------------------------------
def saturation(task: RecurrentTask, batches, max_items: int = 1000) -> dict[tuple[str, str], dict[str, Tensor]]:
    """For each (reading, trace name) and sigmoid gate: (2, H) shares of each unit's values over the
    real steps of the first `max_items` items, below LOW (row 0) and above HIGH (row 1)."""
    counts: dict[tuple[str, str], dict[str, Tensor]] = {}
    steps: dict[tuple[str, str], int] = {}
    seen = 0
    for batch in batches:
        for reading, traces in trace(task, batch):
            real = torch.arange(reading.x.shape[1]) < reading.lengths.unsqueeze(1)  # (B, T)
            for t in traces:
                key = (reading.name, t.name)
                steps[key] = steps.get(key, 0) + int(real.sum())
                per = counts.setdefault(key, {})
                for gate in SIGMOID_GATES[reading.core.cell]:
                    values = t.values[gate].cpu()[real]  # (N, H) real steps only
                    low_high = torch.stack([(values < LOW).sum(0), (values > HIGH).sum(0)])  # (2, H)
                    per[gate] = per.get(gate, 0) + low_high
        seen += len(batch[1])
        if seen >= max_items:
            break
    return {key: {g: c.float() / steps[key] for g, c in per.items()} for key, per in counts.items() if per}


def carries(pairs: list[str], op: str) -> list[int]:
    """The carry (add) or borrow (sub) out of each step, from its bit pairs "ab", least significant first."""
    out, carry = [], 0
    for pair in pairs:
        a, b = int(pair[0]), int(pair[1])
        carry = int(a + b + carry >= 2) if op == "add" else int(a - b - carry < 0)
        out.append(carry)
    return out


def carry_unit(task: RecurrentTask, batches, max_items: int = 1000) -> tuple[str, int, float]:
    """The hidden unit (trace name, index) whose value after each step is most correlated (Pearson,
    by absolute value) with the true carry out of that step over the batches' real steps, and r."""
    states, truth, seen = {}, [], 0
    for batch in batches:
        [(reading, traces)] = trace(task, batch)
        for b, n in enumerate(batch.lengths.tolist()):  # (the batch as the loader gave it: on the CPU)
            truth += carries(BIT_PAIRS.decode(batch.tokens[b, :n].tolist()), task.spec.codec)
            for t in traces:
                states.setdefault(t.name, []).append(t.values["hidden"][b, :n].cpu())  # (n, H)
        seen += len(batch.lengths)
        if seen >= max_items:
            break
    y = torch.tensor(truth, dtype=torch.float)
    best = ("", 0, 0.0)
    for name, parts in states.items():
        h = torch.cat(parts)  # (N, H)
        hc, yc = h - h.mean(0), y - y.mean()
        r = (hc * yc[:, None]).sum(0) / (hc.norm(dim=0) * yc.norm()).clamp(min=1e-12)  # (H,)
        unit = int(r.abs().argmax())
        if abs(float(r[unit])) > abs(best[2]):
            best = (name, unit, float(r[unit]))
    return best


def gradient_norms(task: RecurrentTask, batch) -> tuple[Tensor, str]:
    """d loss / d h_t norms (T,) of the first reading's top layer for a batch of one, and what the
    loss is: the task's loss at the last step against its own most likely output when it has a per-step
    head, else the sum of the last hidden state."""
    reading = readings(task, batch)[0]
    if reading.head is not None:

        def loss(last: Tensor) -> Tensor:
            logits = reading.head(last)  # (B, C)
            return F.cross_entropy(logits, logits.argmax(-1))

        what = "cross-entropy at the last step"
    else:
        loss, what = (lambda last: last[:, : reading.core.hidden_size].sum()), "sum of the last hidden state"
    return gradient_flow(reading.core, reading.x.detach(), loss, reading.state), what


def below(ratio: Tensor, threshold: float = 1e-3) -> int | None:
    """The first distance from the last step at which ratio (T,) (step order) falls below threshold."""
    back = ratio.flip(0)
    hits = (back < threshold).nonzero()
    return int(hits[0]) if len(hits) else None


# --- figures (matplotlib Figure, no pyplot: no global state, no display) -------------------------------
def _axis(ax, symbols: list[str], units: int) -> None:
    ax.set_xticks(range(len(symbols)), symbols, rotation=90 if max(map(len, symbols)) > 2 else 0, fontsize=7)
    ax.set_ylabel(f"unit (of {units})")


def states_figure(traced: list[tuple[Reading, list[Trace]]], symbols: list[list[str]], title: str) -> Figure:
    """The hidden state (and the LSTM's cell state) of item 0, units x steps, per layer and direction."""
    panels = [(r, t, name, syms) for (r, traces), syms in zip(traced, symbols, strict=True) for t in traces
              for name in ("hidden", "cell_state") if name in t.values]  # fmt: skip
    width = max(len(s) for s in symbols)
    fig = Figure(figsize=(min(4 + 0.25 * width, 18), 2.6 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (reading, t, name, syms) in zip(axes, panels, strict=True):
        values = t.values[name][0, : len(syms)].T.cpu().numpy()  # (H, T): matplotlib reads arrays, not tensors
        limit = max(float(abs(values).max()), 1e-6)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.03)
        _axis(ax, syms, values.shape[0])
        ax.set_title(f"{reading.name}, {t.name}: {name.replace('_', ' ')}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gates_figure(traced: list[tuple[Reading, list[Trace]]], symbols: list[list[str]], title: str) -> Figure | None:
    """Each gate of item 0, units x steps, a row per gate and a column per layer and direction; None for rnn."""
    columns = [(r, t, syms) for (r, traces), syms in zip(traced, symbols, strict=True) for t in traces]
    gates = GATES[columns[0][0].core.cell]
    if not gates:
        return None
    width = max(len(s) for s in symbols)
    fig = Figure(figsize=(min(3 + 0.2 * width, 12) * len(columns), 2.4 * len(gates)))
    axes = fig.subplots(len(gates), len(columns), squeeze=False)
    for col, (reading, t, syms) in enumerate(columns):
        for row, gate in enumerate(gates):
            ax = axes[row, col]
            values = t.values[gate][0, : len(syms)].T.cpu().numpy()  # (H, T)
            tanh = gate in ("cell", "candidate") and reading.core.cell in ("lstm", "gru")
            top = 1 if tanh or gate != "candidate" else max(float(values.max()), 1e-6)  # minimal cells: g > 0
            image = ax.imshow(values, cmap="RdBu_r" if tanh else "viridis", vmin=-1 if tanh else 0, vmax=top,
                              aspect="auto", interpolation="nearest")  # fmt: skip
            fig.colorbar(image, ax=ax, fraction=0.03)
            _axis(ax, syms, values.shape[0])
            ax.set_title(f"{reading.name}, {t.name}: {gate} gate", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def saturation_figure(stats: dict[tuple[str, str], dict[str, Tensor]], title: str) -> Figure:
    """Per gate (a row per reading and trace): histograms over units of the share of steps each unit
    spends below LOW and above HIGH, and the share of all values in each."""
    rows = list(stats)
    gates = list(stats[rows[0]])
    fig = Figure(figsize=(3.6 * len(gates), 2.8 * len(rows)))
    axes = fig.subplots(len(rows), len(gates), squeeze=False)
    bins = torch.linspace(0, 1, 21).tolist()
    for i, key in enumerate(rows):
        for j, gate in enumerate(gates):
            low, high = stats[key][gate]  # (H,) each
            ax = axes[i, j]
            ax.hist(low.tolist(), bins=bins, alpha=0.6, label=f"< {LOW}: {float(low.mean()):.0%} of values")
            ax.hist(high.tolist(), bins=bins, alpha=0.6, label=f"> {HIGH}: {float(high.mean()):.0%} of values")
            ax.set_title(f"{key[0]}, {key[1]}: {gate} gate", fontsize=9)
            ax.set_xlabel("share of a unit's steps")
            ax.set_ylabel("units")
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gradient_figure(curves: list[tuple[str, Tensor]], title: str) -> Figure:
    """|d loss / d h_t| / its value at the last step against the distance from the last step, log scale."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for label, norms in curves:
        ratio = (norms / norms[-1].clamp(min=1e-30)).flip(0)  # distance 0 = the last step
        first = below(ratio.flip(0))
        note = f"< 1e-3 from distance {first}" if first is not None else "never < 1e-3"
        ax.semilogy(range(len(ratio)), ratio.clamp(min=1e-30).tolist(), label=f"{label} ({note})")
    ax.axhline(1e-3, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("distance from the last step (steps)")
    ax.set_ylabel("|dL/dh_t| / |dL/dh_T|")
    ax.set_ylim(bottom=1e-12)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def carry_figure(values: Tensor, bits: list[int], pairs: list[str], unit: tuple[str, int, float], title: str) -> Figure:
    """The carry unit's value at each step of one sum beside the true carry out of that step."""
    name, index, r = unit
    fig = Figure(figsize=(min(4 + 0.25 * len(bits), 18), 3.4))
    ax = fig.subplots()
    ax.step(range(len(bits)), bits, where="mid", color="grey", label="true carry out of the step")
    ax.plot(range(len(bits)), values.tolist(), "o-", label=f"{name}, unit {index} (r = {r:+.3f} over the data)")
    ax.set_xticks(range(len(pairs)), pairs, fontsize=7)
    ax.set_xlabel("bit pair ab, least significant first")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
