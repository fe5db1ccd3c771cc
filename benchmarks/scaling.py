"""How a training epoch's time grows with the data and with the width, for names and dinos.

    python -m benchmarks.scaling                      # names and dinos, default config, gru (~4 min)
    python -m benchmarks.scaling tasks=dinos model=lstm out=docs/scaling.png   # the picture in docs/benchmarks.md

Data: the training set cut to 25% and 50%, whole, and repeated 4x (same sequences, so the same
length mix). Width: model.hidden_size 64, 128, 256, 512 on the whole set. Each point is the faster
of two epochs of the project's Lightning run (`src.train`'s Trainer, validation not timed). Prints
a table, the least-squares line through the data points (seconds = a + b * sequences, with R^2),
saves the plot (default outputs/benchmarks/scaling.png: the tracked docs/scaling.png changes only
when asked for) and ends with one JSON object.
"""

import json
import tempfile
from pathlib import Path

import torch

from benchmarks.cli import CELLS, choices, run, split_args
from benchmarks.speed import bench_overrides, compose_train, lightning_epochs
from src.data.batching import PaddedSequences
from src.errors import UserError
from src.run.checks import check_choices

SCALED = ("names", "dinos")  # the tasks with data enough to scale
FRACTIONS = (0.25, 0.5, 1.0, 4.0)
WIDTHS = (64, 128, 256, 512)
OPTIONS = {"tasks": "names,dinos", "model": "gru", "out": "outputs/benchmarks/scaling.png"}


def resize(fraction: float):
    """A reshape for lightning_epochs: the first `fraction` of the (shuffled-at-load) training set,
    or the whole set repeated when fraction > 1."""

    def reshape(dm) -> None:
        data = dm.datasets["train"]
        n = len(data)
        idx = torch.arange(int(n * fraction)) % n
        dm.datasets["train"] = PaddedSequences(data.tokens[idx], data.lengths[idx], data.targets[idx])

    return reshape


def epoch_seconds(task: str, cell: str, overrides: list[str], tmp: str, fraction: float = 1.0) -> tuple[float, int]:
    cfg = compose_train([*bench_overrides(task, cell, 10**9), *overrides], f"{tmp}/{task}")
    sizes = []

    def reshape(dm):
        resize(fraction)(dm)
        sizes.append(len(dm.datasets["train"]))

    epochs, _ = lightning_epochs(cfg, reshape)
    return min(epochs)[0], sizes[0]


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (a, b, R^2)."""
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys) or 1.0
    return a, b, 1 - ss_res / ss_tot if n > 2 else 1.0


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    tasks = list(result["tasks"])
    fig = Figure(figsize=(10, 3.6 * len(tasks)))
    axes = fig.subplots(len(tasks), 2, squeeze=False)
    for task, (data_ax, width_ax) in zip(tasks, axes, strict=True):
        r = result["tasks"][task]
        xs, ys = [p["sequences"] for p in r["data"]], [p["epoch_s"] for p in r["data"]]
        a, b = r["data_fit"]["a"], r["data_fit"]["b"]
        data_ax.plot(xs, ys, "o", label="measured")
        data_ax.plot([0, max(xs)], [a, a + b * max(xs)], "-", label=f"fit, R$^2$ = {r['data_fit']['r2']:.4f}")
        data_ax.set(title=f"{task}: epoch time against data", xlabel="training sequences", ylabel="s / epoch")
        data_ax.legend(fontsize=8)
        widths, times = [p["hidden_size"] for p in r["width"]], [p["epoch_s"] for p in r["width"]]
        width_ax.plot(widths, times, "o-")
        for w, t in zip(widths, times, strict=True):
            width_ax.annotate(f"{t / times[0]:.1f}x", (w, t), textcoords="offset points", xytext=(-10, 6), fontsize=8)
        width_ax.set(
            title=f"{task}: epoch time against width (whole set)",
            xlabel="model.hidden_size",
            ylabel="s / epoch",
            ylim=(0, max(times) * 1.15),
        )
        width_ax.set_xticks(widths, [str(w) for w in widths])
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    options, overrides = split_args(argv, OPTIONS)
    choices("tasks", options["tasks"], SCALED)
    choices("model", options["model"], CELLS)
    if any(o.startswith(("model.hidden_size=", "task=")) for o in overrides):
        raise UserError("this benchmark sets task= and model.hidden_size= itself; use tasks=names,dinos")
    if not options["out"].strip():
        raise UserError("out= is empty; give the plot's path, e.g. out=docs/scaling.png")
    out = Path(options["out"]).expanduser()
    if options["out"] == OPTIONS["out"]:
        out.parent.mkdir(parents=True, exist_ok=True)
    if not out.parent.is_dir():
        raise UserError(f"out={options['out']}: folder {out.parent} does not exist; create it first")
    return options, overrides


def main(argv: list[str]) -> dict:
    options, overrides = parse(argv)
    check_choices([*overrides, f"model={options['model']}"])
    cfg = compose_train(overrides, ".")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": options["model"],
        "overrides": overrides,
        "tasks": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for task in options["tasks"].split(","):
            data = []
            for fraction in FRACTIONS:
                seconds, sequences = epoch_seconds(task, options["model"], overrides, tmp, fraction)
                data.append({"fraction": fraction, "sequences": sequences, "epoch_s": round(seconds, 4)})
                print(f"  {task} x{fraction}: {sequences} sequences, {seconds:.3f} s/epoch", flush=True)
            width = []
            for hidden in WIDTHS:
                seconds, _ = epoch_seconds(task, options["model"], [*overrides, f"model.hidden_size={hidden}"], tmp)
                width.append({"hidden_size": hidden, "epoch_s": round(seconds, 4)})
                print(f"  {task} hidden {hidden}: {seconds:.3f} s/epoch", flush=True)
            a, b, r2 = fit_line([p["sequences"] for p in data], [p["epoch_s"] for p in data])
            fit = {"a": round(a, 4), "b": b, "r2": round(r2, 5), "ms_per_1000_sequences": round(b * 1e6, 1)}
            result["tasks"][task] = {"data": data, "width": width, "data_fit": fit}
    for task, r in result["tasks"].items():
        fit = r["data_fit"]
        print(
            f"\n{task}: s/epoch = {fit['a']:.3f} + {fit['ms_per_1000_sequences']:.1f} ms per 1000 sequences "
            f"(R^2 = {fit['r2']:.4f})"
        )
        base = r["width"][0]["epoch_s"]
        print(
            "  width: "
            + ", ".join(f"{p['hidden_size']}: {p['epoch_s']:.2f} s ({p['epoch_s'] / base:.1f}x)" for p in r["width"])
        )
    plot(result, Path(options["out"]))
    print(f"plot saved to {options['out']}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run(main)
