"""What a trained task's recurrent cells do inside: states and gates step by step, gate saturation
over a data split, gradient flow through time, and the unit that tracks what the task's data says a
unit should (`step_probe`: binary's carry). Used by `python -m src.inspect` and by the InspectCells
callback (TensorBoard at the end of training).

Nothing here knows a kind of task: the network says which cores it has and what each reads
(`net.readings(batch)`: the core of names, dinos, binary and hello; the encoder and decoder of pairs
and translate, the decoder fed the gold target, or the greedy output of a raw input, and started from
the encoder's bridged state), and the task how it encodes a raw input (`encode_input`), the symbols of
a batch's first item (`item_symbols`) and its step probe (src/tasks/base.py).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from src.data.batching import Batch, PairBatch, to_device
from src.errors import UserError
from src.nn.gates import GATES, SIGMOID_GATES, Reading, Trace, gradient_flow, replay
from src.tasks.base import RecurrentTask

LOW, HIGH = 0.1, 0.9  # a sigmoid gate below LOW is nearly shut, above HIGH nearly open (Karpathy et al. 2015)

# model=transformer: nothing here replays it; src.inspect and InspectCells say so in this line and
# draw its attention maps instead (`attention`, `attention_figure`)
NO_GATES = (
    "a Transformer has no gates and no recurrent state to replay: states, gates, gate saturation and "
    "gradient flow through time do not apply to it; its attention maps are drawn instead"
)


def replayable(task: RecurrentTask) -> bool:
    """Whether the task's cores are recurrent cells whose states and gates `replay` reconstructs."""
    return task.hparams.model["cell"] in GATES


def readings(task: RecurrentTask, batch: Batch | PairBatch) -> list[Reading]:
    """The cores of `task` and their inputs for `batch`, a loader's batch on any device (it is moved
    to the task's), in eval mode: no dropout."""
    return task.net.readings(to_device(batch, task.device))


def encode_input(task: RecurrentTask, where: str, text: str, language: str | None = None):
    """One raw input as the task encodes it: (a batch of one, the symbols each reading reads).
    UserError naming `where` for an empty input or one outside the vocabulary."""
    text = text.strip()
    if not text:
        raise UserError(f"{where}: the input is empty; give some text")
    return task.encode_input(where, text, language)


def trace(task: RecurrentTask, batch) -> list[tuple[Reading, list[Trace]]]:
    """Each reading of `batch` with its replayed traces (no gradients), on the task's device."""
    with torch.no_grad():
        return [(r, replay(r.core, r.x, r.lengths, r.state)[0]) for r in readings(task, batch)]


def attention(task: RecurrentTask, batch) -> list[tuple[Reading, list[tuple[str, Tensor]]]]:
    """Each reading of `batch` with its core's attention weights (a Transformer's: every layer's
    self-attention, a decoder's cross-attention too), [(name, (B, heads, T, S))], no gradients."""
    with torch.no_grad():
        return [(r, r.core.attention(r.x, r.lengths, r.state)) for r in readings(task, batch)]


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


def probe_unit(
    task: RecurrentTask, batches, values: Callable[[list[int]], list[int]], max_items: int = 1000
) -> tuple[str, int, float]:
    """The hidden unit (trace name, index) whose value after each step is most correlated (Pearson, by
    absolute value) with `values` (an item's input ids -> a number per step: a task's step probe) over
    the batches' real steps, and r. For a task of one reading."""
    states, truth, seen = {}, [], 0
    for batch in batches:
        [(reading, traces)] = trace(task, batch)
        for b, n in enumerate(batch.lengths.tolist()):  # (the batch as the loader gave it: on the CPU)
            truth += values(batch.tokens[b, :n].tolist())
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
    panels = [
        (r, t, name, syms)
        for (r, traces), syms in zip(traced, symbols, strict=True)
        for t in traces
        for name in ("hidden", "cell_state")
        if name in t.values
    ]
    width = max(len(s) for s in symbols)
    fig = Figure(figsize=(min(4 + 0.25 * width, 18), 2.6 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (reading, t, name, syms) in zip(axes, panels, strict=True):
        values = t.values[name][0, : len(syms)].T.float().cpu().numpy()  # (H, T): matplotlib reads float arrays
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
            values = t.values[gate][0, : len(syms)].T.float().cpu().numpy()  # (H, T); bf16 has no numpy type
            tanh = gate in ("cell", "candidate") and reading.core.cell in ("lstm", "gru")
            top = 1 if tanh or gate != "candidate" else max(float(values.max()), 1e-6)  # minimal cells: g > 0
            image = ax.imshow(
                values,
                cmap="RdBu_r" if tanh else "viridis",
                vmin=-1 if tanh else 0,
                vmax=top,
                aspect="auto",
                interpolation="nearest",
            )
            fig.colorbar(image, ax=ax, fraction=0.03)
            _axis(ax, syms, values.shape[0])
            ax.set_title(f"{reading.name}, {t.name}: {gate} gate", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def attention_figure(
    maps: list[tuple[Reading, list[tuple[str, Tensor]]]], symbols: list[list[str]], title: str
) -> Figure:
    """The attention weights of item 0: a row per reading and attention (layer k self, a decoder's
    layer k cross), a column per head; queries (the steps that read) down, keys across. A decoder's
    cross-attention reads the first reading's (the encoder's) symbols."""
    rows = [
        (reading, name, weights, syms, symbols[0] if name.endswith("cross") else syms)
        for (reading, found), syms in zip(maps, symbols, strict=True)
        for name, weights in found
    ]
    heads = rows[0][2].shape[1]
    width = max(len(s) for s in symbols)
    side = min(1.6 + 0.16 * width, 6, 30 / heads, 40 / len(rows))  # at most about 30 x 40 inches in all
    small = 7 if width <= 30 else 5
    every = max(1, round(width * small / (side * 72)))  # label every k-th step where they would overlap
    fig = Figure(figsize=(side * heads + 1, side * len(rows) + 0.6))
    axes = fig.subplots(len(rows), heads, squeeze=False)
    for row, (reading, name, weights, queries, keys) in enumerate(rows):
        for head in range(heads):
            ax = axes[row, head]
            values = weights[0, head, : len(queries), : len(keys)].float().cpu().numpy()  # (T, S)
            ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
            ax.set_xticks(
                range(0, len(keys), every), keys[::every], rotation=90 if max(map(len, keys)) > 2 else 0, fontsize=small
            )
            ax.set_yticks(range(0, len(queries), every), queries[::every], fontsize=small)
            ax.set_title(f"{reading.name}, {name}, head {head + 1}", fontsize=8)
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


def probe_figure(
    values: Tensor,
    truth: list[int],
    symbols: list[str],
    unit: tuple[str, int, float],
    title: str,
    legend: str,
    axis: str,
) -> Figure:
    """The probe unit's value at each step of one input beside the probed quantity's true value
    (`legend` says what it is, `axis` what the symbols are)."""
    name, index, r = unit
    fig = Figure(figsize=(min(4 + 0.25 * len(truth), 18), 3.4))
    ax = fig.subplots()
    ax.step(range(len(truth)), truth, where="mid", color="grey", label=legend)
    ax.plot(range(len(truth)), values.tolist(), "o-", label=f"{name}, unit {index} (r = {r:+.3f} over the data)")
    ax.set_xticks(range(len(symbols)), symbols, fontsize=7)
    ax.set_xlabel(axis)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
