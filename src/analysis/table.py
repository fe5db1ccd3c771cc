"""The compare table of runs side by side (`python -m src.compare DIR` prints it; sweeps and
src.fair_cells end with it): `compare(root)` reads every run folder under root.

Prints a markdown table per task, one row per run (or per group of runs that differ only by
`seed` or `task.data.fold`, as mean +- std): task, model, overrides, parameters, epochs, seconds per epoch, training
seconds in all, best validation metric, test metrics. Saves it as DIR/compare.md, and DIR/compare.png with each run's
validation curve and its training time. A run folder without results.json is never dropped: it is
listed as failed (with the error line of its train.log, or what in the folder cannot be read) or as
incomplete (killed, stopped, still running).
"""

import json
import statistics
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from src.analysis import lengths, verdict
from src.errors import UserError
from src.run.results import Results

# overrides that do not change what a run learns: left out of labels and grouping
HIDDEN_OVERRIDES = (
    "seed=",
    "task.data.fold=",  # the folds of a cross-validation are runs of one setting, as seeds are
    "ckpt_path=",  # a run resumed from its own checkpoint (fair_cells resumes a stopped seed run) is still its setting
    "task=",
    "hydra.",
    "paths.",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "experiment=fair_cells",
    "fair_cells.",
)


@dataclass
class Run:
    path: Path
    task: str
    model: str
    overrides: list[str]
    results: dict | None = None  # None: the run did not finish
    why: str = ""  # why it did not: its log's last error line, or what in the folder cannot be read
    curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """What tells this run from the others of its group, seed left out."""
        kept = [o for o in self.overrides if not o.startswith(HIDDEN_OVERRIDES)]
        return " ".join(kept) or f"model={self.model}"


def find_runs(root: Path) -> list[Run]:
    """Every run folder under root: one holding results.json, or Hydra's .hydra/ record."""
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give a run, sweep or outputs folder")
    folders = {p.parent for p in root.rglob("results.json")} | {
        p.parent.parent for p in root.rglob(".hydra/config.yaml")
    }
    runs = [read_run(f) for f in sorted(folders)]
    if not runs:
        raise UserError(f"no runs under {root} (a run folder holds results.json or .hydra/); train some with src.train")
    return runs


def read_run(folder: Path) -> Run:
    """The run in `folder`; one whose files cannot be read is listed as broken, with what is wrong."""
    results_file = folder / "results.json"
    if results_file.is_file():
        try:  # plain data, checked field by field (src/run/results.py): a run folder may come from anyone
            results = Results.read(json.loads(results_file.read_text())).to_dict()
            return Run(folder, results["task"], results["model"], results["overrides"], results)
        except (OSError, ValueError) as err:
            return Run(folder, "?", "?", [], why=f"broken results.json ({first_line(err)})")
    try:
        config = OmegaConf.to_container(OmegaConf.load(folder / ".hydra" / "config.yaml")) or {}
        overrides_file = folder / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.to_container(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        task = (config.get("task") or {}).get("name", "?")
        model = (config.get("model") or {}).get("cell", "?")
        return Run(folder, str(task), str(model), [str(o) for o in overrides or []], why=last_error(folder))
    except Exception as err:  # a broken YAML file is a broken run, not the end of the table
        return Run(folder, "?", "?", [], why=f"broken .hydra/ record ({first_line(err)})")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:120] if text else type(err).__name__


def last_error(folder: Path) -> str:
    """The last error line of the run's train.log (a one-line reason, a stop signal), or ''."""
    try:
        lines = (folder / "train.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.split("] - ", 1)[-1] for line in lines if "[ERROR] - " in line]
    reasons = [e for e in errors if e.startswith(("error: ", "stopped by", "interrupted"))]
    return (reasons or errors or [""])[-1].removeprefix("error: ")[:200]


def read_curve(run: Run, metric: str) -> list[tuple[int, float]]:
    """(step, value) of every scalar `metric` in the run folder's event files, in the order written
    (files by name, as TensorBoard reads them; a restart's SessionLog.START drops the later steps
    before it, as TensorBoard does)."""
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog

    found: list[tuple[int, float]] = []
    tag = metric.encode()
    for path in sorted(p for p in run.path.iterdir() if "tfevents" in p.name and p.is_file()):
        for data in records(path):
            # TensorBoard's own reader checks each record's CRC in pure Python (a fifth of compare's time
            # on a folder of runs) and parses every picture: only records that may hold the tag are read
            if tag not in data and len(data) > 512:
                continue
            try:
                event = Event.FromString(data)
            except Exception:  # noqa: BLE001 - a torn record (a killed run): the rest of the file is lost
                break
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                found = [(s, v) for s, v in found if s < event.step]
            for value in event.summary.value:
                if value.tag == metric and value.HasField("simple_value"):
                    found.append((event.step, value.simple_value))
    return found


def records(path: Path):
    """The records of a TFRecord file (an events file): length (8 bytes), its CRC (4), data, its CRC (4).
    The CRCs are not checked; a file cut short ends at its last whole record."""
    try:
        blob = path.read_bytes()
    except OSError:
        return
    at = 0
    while at + 12 <= len(blob):
        (length,) = struct.unpack_from("<Q", blob, at)
        end = at + 12 + length + 4
        if end > len(blob):
            return
        yield blob[at + 12 : at + 12 + length]
        at = end


def mean_std(values: list[float], digits: int = 4) -> str:
    """`m` for one value, `m ± sd` for more; a missing metric (NaN: e.g. no validation ran) is left out."""
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(task: str, runs: list[Run]) -> str:
    """The markdown table of one task's runs, seeds aggregated."""
    done = [r for r in runs if r.results]
    monitor = done[0].results["monitor"] if done else "val metric"
    test_keys = sorted({k for r in done for k in r.results["test"]})
    head = ["model", "runs", "overrides", "params", "epochs", "s/epoch", "train s", f"best {monitor}", *test_keys]
    lines = [f"### {task}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = defaultdict(list)
    for run in done:
        groups[(run.model, run.label)].append(run)
    for (model, label), group in sorted(groups.items()):
        res = [r.results for r in group]
        # a baseline (src.baseline) has no epochs, and no parameter count where it fits nothing: n/a
        per_epoch = [r["train_seconds"] / max(r["epochs"], 1) if r["epochs"] is not None else float("nan") for r in res]
        pruned = sum(r.get("pruned_at") is not None for r in res)  # stopped early by a study's pruner
        count = f"{len(group)} ({pruned} pruned)" if pruned else str(len(group))
        row = [
            model,
            count,
            label,
            "n/a" if res[0]["params"] is None else f"{res[0]['params']:,}",
            mean_std([float("nan") if r["epochs"] is None else float(r["epochs"]) for r in res]).replace(".0000", ""),
            mean_std(per_epoch),
            mean_std([r["train_seconds"] for r in res], digits=1),
            mean_std([r["best_val"].get(monitor, float("nan")) for r in res]),
            *[
                mean_std([r["test"][k] for r in res if k in r["test"]]) if any(k in r["test"] for r in res) else ""
                for k in test_keys
            ],
        ]
        lines.append("| " + " | ".join(row) + " |")
    for run in runs:
        if not run.results:
            blank = [""] * (len(head) - 4)
            # failed: a one-line reason in its log (or a broken file); incomplete: killed, stopped or running
            stopped = run.why.startswith(("stopped by", "interrupted"))
            state, why = ("failed" if run.why and not stopped else "incomplete"), f": {run.why}" if run.why else ""
            lines.append(
                f"| {run.model} | {state} | {run.label} | | " + " | ".join(blank) + f" | ({run.path.name}{why})"
            )
    return "\n".join(lines)


def tests(task: str, runs: list[Run]) -> str:
    """Intervals, pairwise tests and the verdict (src/analysis/verdict.py) under a task's table."""
    done = [r for r in runs if r.results]
    if not done:
        return ""
    groups = {name: [r.results for r in members] for name, members in verdict.named_groups(done, group_key).items()}
    by_length = lengths.table(task, groups)
    return "\n\n" + verdict.report(task, done, group_key) + ("\n\n" + by_length if by_length else "")


def group_key(run: Run) -> tuple[str, str]:
    return run.model, run.label


def shorten(label: str, width: int = 40) -> str:
    """A label that fits beside a chart: a search's long override lists are cut, the table has them whole."""
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def band_plot(axes, name: str, curves: list[dict[int, float]]) -> None:
    """A group's validation curve: the mean over its runs at each step, and the min-max band when
    there are several (a run stopped early leaves the later steps to the others)."""
    if not curves:
        return
    steps = sorted(set().union(*curves))
    values = [[c[s] for c in curves if s in c] for s in steps]
    label = shorten(name) if len(curves) == 1 else f"{shorten(name)} (mean of {len(curves)})"
    (line,) = axes.plot(steps, [sum(v) / len(v) for v in values], marker=".", label=label)
    if len(curves) > 1:
        axes.fill_between(steps, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.2)


def plot(by_task: dict[str, list[Run]], path: Path) -> None:
    """Per task: validation curves (left) and training time per run (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2 * len(by_task)))
    axes = fig.subplots(len(by_task), 2, squeeze=False)
    for (task, runs), (curves, times) in zip(sorted(by_task.items()), axes, strict=True):
        done = [r for r in runs if r.results]
        monitor = done[0].results["monitor"] if done else ""
        labels, seconds = [], []
        for name, members in verdict.named_groups(done, group_key).items():
            band_plot(curves, name, [dict(r.curve) for r in members if r.curve])
            labels += [shorten(f"{name} ({r.path.name})" if len(members) > 1 else name) for r in members]
            seconds += [r.results["train_seconds"] for r in members]
        curves.set(
            title=f"{task}: {monitor} during training (mean over seeds, min-max band)", xlabel="step", ylabel=monitor
        )
        if any(r.curve for r in done):
            curves.legend(fontsize=7)
        times.barh(labels, seconds)
        times.set(title=f"{task}: training time", xlabel="seconds")
        times.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_lengths(by_task: dict[str, list[Run]], path: Path) -> bool:
    """Per task, the monitored test metric against input length, a line per group; False if no run has it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4 * len(by_task)))
    axes = fig.subplots(len(by_task), 1, squeeze=False)[:, 0]
    drawn = False
    for (task, runs), ax in zip(sorted(by_task.items()), axes, strict=True):
        done = [r for r in runs if r.results]
        groups = {name: [r.results for r in members] for name, members in verdict.named_groups(done, group_key).items()}
        drawn = lengths.plot(ax, task, groups, label=shorten) or drawn
    if drawn:
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    return drawn


def write_up(root: Path, out: Path, by_task: dict[str, list[Run]], report: str, lengths_drawn: bool) -> str:
    """report.md: the setup (from fair_cells.json when experiment=fair_cells wrote one), then the
    tables, intervals, verdicts and per-length results, then the figures."""
    import platform

    lines = [f"# Comparison: {root}", "", "## Setup", ""]
    setup_file = out / "fair_cells.json"
    if setup_file.is_file():
        setup = json.loads(setup_file.read_text())
        lines += [
            f"- command: `{setup['command']}`",
            f"- parameter budget: {setup['budget']:,} per model; by budget_share: {setup.get('budgets')}",
            f"- tuning: {setup['trials']} Optuna (TPE) trials per cell over "
            f"{', '.join(v.get('key', k) for k, v in setup['search'].items())}",
            f"- seeds: each cell's best trial retrained with seeds {setup['seeds']}",
            f"- machine: {setup['machine']}",
            f"- wall time: {setup['wall_seconds']:.0f} s",
        ]
        for cell, found in setup["studies"].items():
            best = found["best"]
            failed = sum("failed" in t for t in found["trials"])
            chosen = (
                "every trial failed"
                if best is None
                else (
                    f"best trial {best['number']}: {' '.join(best['overrides'])}; hidden_size {best['hidden_size']}, "
                    f"{best['params']:,} parameters"
                )
            )
            lines.append(f"- {cell}: {chosen}" + (f" ({failed} trial(s) failed)" if failed else ""))
    else:
        lines.append(f"- compared on: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    for task, runs in sorted(by_task.items()):
        done = [r for r in runs if r.results]
        for name, members in verdict.named_groups(done, group_key).items():
            res = members[0].results
            size = f", hidden_size {res['hidden_size']}" if res.get("hidden_size") else ""
            params = "n/a" if res.get("params") is None else f"{res['params']:,}"
            lines.append(
                f"- {task} {name}: {len(members)} run(s), {params} parameters{size}, threads {res.get('threads', '?')}"
            )
    lines += ["", "## Results", "", report, "", "## Figures", "", "![validation curves](compare.png)"]
    if lengths_drawn:
        lines.append("![by input length](lengths.png)")
    return "\n".join(lines) + "\n"


def compare(root: Path, out: Path | None = None) -> str:
    if not str(root).strip():
        raise UserError("give a folder of runs: python -m src.compare outputs/ (or a sweep folder)")
    runs = find_runs(root)
    by_task = defaultdict(list)
    for run in runs:
        if run.results:
            run.curve = read_curve(run, run.results["monitor"])
        by_task[run.task].append(run)
    report = "\n\n".join(table(task, task_runs) + tests(task, task_runs) for task, task_runs in sorted(by_task.items()))
    out = out or root
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(report + "\n")
        plot(by_task, out / "compare.png")
        drawn = plot_lengths(by_task, out / "lengths.png")
        (out / "report.md").write_text(write_up(root, out, by_task, report, drawn))
    except OSError as err:  # the table is still printed, then this one line
        why = (
            f"cannot save compare.md and compare.png in {out} ({err.strerror or err}); give --out DIR you can write in"
        )
        raise NotSaved(report, why) from None
    return report


class NotSaved(UserError):
    """The report was made but could not be saved: its caller prints `report`, then the error."""

    def __init__(self, report: str, message: str):
        super().__init__(message)
        self.report = report
