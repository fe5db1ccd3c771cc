"""The statistics of a comparison of runs: intervals, pairwise tests, a verdict (src.compare prints them).

Runs are grouped as compare's table groups them (the same settings, seeds apart). Per group and
test metric: the mean and its 95% interval, a t-interval over seeds, or for a single run a bootstrap
over the test items of its test_predictions.jsonl. Per pair of groups, on the task's monitored
metric (its test value): Welch's t over seeds and a paired test over the same test items (a sign-flip
permutation test; for BLEU sacrebleu's approximate randomisation), each Holm-corrected across the
pairs. The verdict names the better of each pair where the paired test (Welch's without items)
says so at 5%, and "no significant difference" where it does not.
"""

import json
from itertools import combinations
from pathlib import Path

from omegaconf import OmegaConf

from src import stats

ALPHA = 0.05


def read_rows(run_dir: Path) -> list[dict]:
    """A run's test predictions (one dict per item), or [] when it has none (older runs, baselines)."""
    path = run_dir / "test_predictions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) if path.is_file() else {}


def higher_is_better(results: dict, run_dir: Path) -> bool:
    mode = results.get("monitor_mode") or run_config(run_dir).get("task", {}).get("monitor_mode")
    if mode is None:  # an older run: losses and NLL go down, everything else up
        return not results["monitor"].split("/")[-1].startswith(("loss", "nll"))
    return mode == "max"


def item_metric(key: str, rows: list[dict]) -> tuple[str, str] | None:
    """(metric, test set suffix) of a test key whose per-item values the rows hold
    (test/seq_acc_long -> ("seq_acc", "_long")), or None."""
    name = key.removeprefix("test/")
    for suffix in sorted({r["set"] for r in rows}, key=len, reverse=True):
        metric = name.removesuffix(suffix) if suffix else name
        if (not suffix or name.endswith(suffix)) and any(r["set"] == suffix for r in rows):
            part = next(r for r in rows if r["set"] == suffix)
            if metric in part or (metric == "bleu" and "references" in part):
                return metric, suffix
    return None


def bleu_ngrams(run_dir: Path) -> int:
    return int(run_config(run_dir).get("task", {}).get("module", {}).get("bleu_ngrams", 4))


def item_interval(metric: str, rows: list[dict], run_dir: Path) -> stats.Interval:
    if metric == "bleu":
        return stats.bleu_interval(
            [r["prediction"] for r in rows], [r["references"] for r in rows], bleu_ngrams(run_dir)
        )
    return stats.bootstrap_interval([r[metric] for r in rows], [r.get(f"{metric}_weight", 1) for r in rows])


class Group:
    """Runs of one setting (seeds apart): per-seed test values and, when saved, their test items."""

    def __init__(self, name: str, runs: list):
        self.name = name
        self.runs = sorted(runs, key=lambda r: str(r.path))
        self.rows = [read_rows(r.path) for r in self.runs]

    def values(self, key: str) -> list[float]:
        return [r.results["test"][key] for r in self.runs if key in r.results["test"]]

    def interval(self, key: str) -> tuple[stats.Interval, str] | None:
        """The mean of `key` and its 95% interval, with how it was drawn."""
        values = self.values(key)
        if len(values) >= 2:
            return stats.t_interval(values), f"t over {len(values)} seeds"
        found = item_metric(key, self.rows[0]) if values and self.rows[0] else None
        if found is None:
            return (stats.Interval(values[0], float("nan"), float("nan")), "one run") if values else None
        metric, suffix = found
        rows = [r for r in self.rows[0] if r["set"] == suffix]
        return item_interval(metric, rows, self.runs[0].path), f"bootstrap over {len(rows)} items"

    def items(self, key: str) -> tuple[str, list[dict]] | None:
        """The metric and the test items of `key` from every run (seeds in order), or None."""
        if not self.rows or not all(self.rows):
            return None
        found = item_metric(key, self.rows[0])
        if found is None:
            return None
        metric, suffix = found
        return metric, [[r for r in rows if r["set"] == suffix] for rows in self.rows]


def paired_p(a: Group, b: Group, key: str) -> float:
    """The paired test of a and b over the same test items; seeds are paired in order (the first
    seed of a with the first of b, ...) and their items pooled. NaN without comparable items."""
    found_a, found_b = a.items(key), b.items(key)
    if found_a is None or found_b is None or found_a[0] != found_b[0]:
        return float("nan")
    metric, runs_a = found_a
    runs_b = found_b[1]
    pairs = list(zip(runs_a, runs_b, strict=False))  # as many pairs as the smaller group has seeds
    if any([r["input"] for r in x] != [r["input"] for r in y] for x, y in pairs):
        return float("nan")  # not the same test items (another split or data set)
    xs = [r for x, _ in pairs for r in x]
    ys = [r for _, y in pairs for r in y]
    if metric == "bleu":
        refs = [r["references"] for r in xs]
        hyps_a, hyps_b = [r["prediction"] for r in xs], [r["prediction"] for r in ys]
        return stats.bleu_paired(hyps_a, hyps_b, refs, bleu_ngrams(a.runs[0].path))[2]
    weights = [r.get(f"{metric}_weight", 1) for r in xs]
    return stats.paired_permutation([r[metric] for r in xs], [r[metric] for r in ys], weights)


def fmt(p: float) -> str:
    return "n/a" if p != p else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def verdict(groups: list[Group], key: str, higher: bool) -> tuple[str, list[dict]]:
    """The markdown verdict of one task on test metric `key`, and its pairs as data."""
    means = {g.name: sum(g.values(key)) / len(g.values(key)) for g in groups if g.values(key)}
    ranked = sorted((g for g in groups if g.name in means), key=lambda g: means[g.name], reverse=higher)
    pairs = list(combinations(ranked, 2))  # better first
    welch_p = stats.holm([stats.welch(a.values(key), b.values(key))[1] for a, b in pairs])
    paired = stats.holm([paired_p(a, b, key) for a, b in pairs])
    better = "higher" if higher else "lower"
    lines = [
        f"verdict on {key} ({better} is better; p-values Holm-corrected over {len(pairs)} pairs, significant "
        f"below {ALPHA}):",
        "",
        "| pair | difference | Welch p (seeds) | paired p (items) | verdict |",
        "|---|---|---|---|---|",
    ]
    data = []
    for (a, b), pw, pp in zip(pairs, welch_p, paired, strict=True):
        diff = means[a.name] - means[b.name]
        p = pp if pp == pp else pw  # the paired test where the items are there
        significant = p == p and p < ALPHA
        said = f"{a.name} better by {abs(diff):.4g}" if significant else "no significant difference"
        if p != p:
            said = "untested (one seed each, no test items)"
        lines.append(f"| {a.name} vs {b.name} | {diff:+.4g} | {fmt(pw)} | {fmt(pp)} | {said} |")
        data.append({"better": a.name, "worse": b.name, "difference": diff, "p": p, "significant": significant})
    if len(ranked) > 1:
        first = [d for d in data if d["better"] == ranked[0].name]
        ties = [d["worse"] for d in first if d["p"] == d["p"] and not d["significant"]]
        untested = [d["worse"] for d in first if d["p"] != d["p"]]
        if ties:
            head = f"**no significant difference** between {ranked[0].name} and {', '.join(ties)} on {key}"
        elif untested:
            head = f"{ranked[0].name} leads on {key}, untested against {', '.join(untested)}"
        else:
            head = f"**{ranked[0].name} wins** on {key}: significantly better than every other"
        lines += ["", head]
    return "\n".join(lines), data


def named_groups(runs: list, group_of) -> dict[str, list]:
    """compare's groups of runs (`group_of(run)` -> (model, label)), named by the cell where that is
    unique among them, else by the label."""
    by_key: dict = {}
    for run in runs:
        by_key.setdefault(group_of(run), []).append(run)
    models = [model for model, _ in by_key]
    return {(model if models.count(model) == 1 else label): members for (model, label), members in by_key.items()}


def report(task: str, runs: list, group_of) -> str:
    """Intervals and the verdict of one task's finished runs; `group_of(run)` is compare's grouping key."""
    groups = [Group(name, members) for name, members in named_groups(runs, group_of).items()]
    test_keys = sorted({k for r in runs for k in r.results["test"]})
    head = ["group", "runs", *test_keys]
    lines = [f"#### {task}: 95% intervals", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    how = set()
    for g in groups:
        cells = []
        for key in test_keys:
            found = g.interval(key)
            cells.append("" if found is None else str(found[0]).replace("[nan, nan]", "(one run)"))
            how |= {found[1]} if found else set()
        lines.append(f"| {g.name} | {len(g.runs)} | " + " | ".join(cells) + " |")
    lines += ["", "intervals: " + "; ".join(sorted(how)), ""]
    key = "test/" + runs[0].results["monitor"].removeprefix("val/")
    text, _ = verdict(groups, key, higher_is_better(runs[0].results, runs[0].path))
    return "\n".join(lines) + f"\n#### {task}: " + text
