"""Where the cells differ: a run's test metric per input length, from its test predictions.

Lengths are in each task's unit (letters of a name or word, source words, operand bits). When the
test items have few distinct lengths (binary: 8, 16, 32, 64, 128 bits) each is its own bucket;
otherwise five buckets of about equal counts, cut at the quintiles of the test set's lengths, so
every run on the same test set gets the same buckets.
"""

import numpy as np

from src.analysis import stats


def buckets(lengths: list[int], most: int = 8) -> list[tuple[int, int]]:
    """(shortest, longest) of each bucket, in order."""
    distinct = sorted(set(lengths))
    if len(distinct) <= most:
        return [(n, n) for n in distinct]
    cuts = sorted({int(c) for c in np.quantile(lengths, [0.2, 0.4, 0.6, 0.8], method="lower")})
    edges = [distinct[0] - 1, *[c for c in cuts if distinct[0] <= c < distinct[-1]], distinct[-1]]
    return [(low + 1, high) for low, high in zip(edges, edges[1:], strict=False)]


def by_length(rows: list[dict], metric: str, ngrams: int = 4) -> list[dict]:
    """[{"lengths": "5-6", "shortest": 5, "longest": 6, "items": n, metric: value}, ...] over the rows
    that hold `metric` (every test set pooled: binary's widths are its sets); [] when none do."""
    rows = [r for r in rows if "references" in r] if metric == "bleu" else [r for r in rows if metric in r]
    if not rows:
        return []
    out = []
    for low, high in buckets([r["length"] for r in rows]):
        part = [r for r in rows if low <= r["length"] <= high]
        if metric == "bleu":
            value = stats.corpus_bleu([r["prediction"] for r in part], [r["references"] for r in part], ngrams)
        else:
            value = stats.weighted_mean([r[metric] for r in part], [r.get(f"{metric}_weight", 1) for r in part])
        name = str(low) if low == high else f"{low}-{high}"
        out.append({"lengths": name, "shortest": low, "longest": high, "items": len(part), metric: value})
    return out


def mean_by_length(results: list[dict]) -> tuple[str, dict[str, float]] | None:
    """(metric, bucket -> mean over the runs) of runs' by_length results, or None when they have none."""
    rows = [r.get("by_length") or [] for r in results]
    if not all(rows):
        return None
    metric = next(k for k in rows[0][0] if k not in ("lengths", "shortest", "longest", "items"))
    values: dict[str, list[float]] = {}
    for run in rows:
        for bucket in run:
            values.setdefault(bucket["lengths"], []).append(bucket[metric])
    return metric, {name: sum(v) / len(v) for name, v in values.items()}


def table(task: str, groups: dict[str, list[dict]]) -> str:
    """Markdown: a row per group (its runs' results), a column per length bucket, means over seeds."""
    found = {name: mean_by_length(results) for name, results in groups.items()}
    found = {name: f for name, f in found.items() if f is not None}
    if not found:
        return ""
    metric = next(iter(found.values()))[0]
    names = list(dict.fromkeys(b for _, per in found.values() for b in per))
    lines = [
        f"#### {task}: test {metric} by input length (mean over seeds)",
        "",
        "| group | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
    ]
    for name, (_, per) in found.items():
        lines.append(f"| {name} | " + " | ".join(f"{per[b]:.4f}" if b in per else "" for b in names) + " |")
    return "\n".join(lines)


def plot(axes, task: str, groups: dict[str, list[dict]], label=str) -> bool:
    """The metric against length, a line per group (mean over its seeds), each named by `label(name)`;
    False if there is nothing to draw."""
    buckets: list[str] = []  # the length buckets on the x axis, in the order first met
    for name, results in groups.items():
        found = mean_by_length(results)
        if found is None:
            continue
        metric, per = found
        buckets += [b for b in per if b not in buckets]
        # at positions, labelled below: bucket names like "11" made matplotlib log a line about categories
        axes.plot([buckets.index(b) for b in per], list(per.values()), marker="o", label=label(name))
        axes.set(title=f"{task}: test {metric} by input length", xlabel="length", ylabel=metric)
    if buckets:
        axes.set_xticks(range(len(buckets)), buckets)
        axes.legend(fontsize=7)
    return bool(buckets)
