"""The statistics of a comparison of runs: intervals, tests over runs, a verdict (src.compare prints them).

The unit of replication is the training run. Runs are grouped as compare's table groups them (the
same settings, seeds and cross-validation folds apart: each fold's run is a run, and two groups are
compared only when they were tested on the same test sets). Per group and test metric: the mean and
its 95% interval, a t-interval over runs, or for a single run a bootstrap over the test items of its
test_predictions.jsonl.

Per pair of groups, on the task's monitored metric (its test value), the difference of the means
with its 95% interval and a test over runs (src/analysis/stats.py):
- two groups of two or more runs: Welch's t over runs;
- a group against a deterministic model (a baseline: `deterministic` in its results.json; its value
  does not move with the seed): a one-sample t over the group's runs;
- one run against a group: a t with the group's seed spread standing for the single run's too;
- two groups cross-validated on the same K folds (`task.data.folds`): a t paired over the folds with
  Nadeau and Bengio's (2003) corrected variance, (1/K + n_test/n_train) s^2, since the folds'
  training sets overlap (a plain paired t over folds calls too many differences);
- one run against one run: the test paired over their test items (a sign-flip permutation test; for
  BLEU sacrebleu's approximate randomisation). It answers "this trained model against that one",
  not which cell is better, and the verdict says so (two deterministic models are exactly that).
Test items pooled over seeds never decide: they are not independent evidence about the cells.

The verdict of a pair is one of four: A better, B better (the pair is written better-ranked first),
equivalent within the task's margin (`margin` in conf/task/<task>.yaml: two one-sided tests), or
inconclusive, with the runs per group that a planner estimates would settle it at 80% power from the
observed difference and spread. p-values are Holm-corrected over the family of pairs tested, which
the header names.
"""

import json
import math
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import yaml

from src.analysis import stats
from src.paths import CONF_DIR

ALPHA = 0.05
POWER = 0.8


def read_rows(run_dir: Path) -> list[dict]:
    """A run's test predictions (one dict per item), or [] when it has none or they are not plain rows
    (a file from a run folder is data: every line must be a JSON object with the keys compare reads)."""
    path = run_dir / "test_predictions.jsonl"
    if not path.is_file():
        return []
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    ok = all(isinstance(r, dict) and isinstance(r.get("set", ""), str) and "input" in r for r in rows)
    return rows if ok else []


def task_setting(task: str, key: str):
    """`task.<key>` of this project's own conf/task/<task>.yaml (not of a run folder), or None."""
    path = Path(CONF_DIR) / "task" / f"{task}.yaml"
    if task not in {p.stem for p in path.parent.glob("*.yaml")}:
        return None
    return (yaml.safe_load(path.read_text()).get("task") or {}).get(key)


def margin_of(task: str) -> float | None:
    """The task's equivalence margin on its monitored test metric (conf/task/<task>.yaml `margin`)."""
    margin = task_setting(task, "margin")
    return float(margin) if isinstance(margin, int | float) and margin > 0 else None


def higher_is_better(results: dict) -> bool:
    mode = results.get("monitor_mode") or task_setting(results["task"], "monitor_mode")
    if mode not in ("min", "max"):  # an older run: losses and NLL go down, everything else up
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


def bleu_ngrams(run) -> int:
    """The BLEU n-gram order the run was scored with (its config.yaml, read as plain data), else 4."""
    try:
        config = yaml.safe_load((run.path / "config.yaml").read_text(encoding="utf-8"))
        ngrams = config["task"]["module"]["bleu_ngrams"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return 4
    return ngrams if isinstance(ngrams, int) and not isinstance(ngrams, bool) and 1 <= ngrams <= 8 else 4


def item_value(metric: str, rows: list[dict], ngrams: int) -> float:
    """The test value the items give: the (weighted) mean of their `metric`, or their corpus BLEU."""
    if metric == "bleu":
        return stats.corpus_bleu([r["prediction"] for r in rows], [r["references"] for r in rows], ngrams)
    return stats.weighted_mean([r[metric] for r in rows], [r.get(f"{metric}_weight", 1) for r in rows])


def agrees(value: float, found: float) -> bool:
    """Whether the items' value is the run's test value (as float32 sums in another order differ)."""
    return math.isclose(value, found, rel_tol=1e-4, abs_tol=1e-6)


def item_interval(metric: str, rows: list[dict], ngrams: int) -> stats.Interval:
    if metric == "bleu":
        return stats.bleu_interval([r["prediction"] for r in rows], [r["references"] for r in rows], ngrams)
    return stats.bootstrap_interval([r[metric] for r in rows], [r.get(f"{metric}_weight", 1) for r in rows])


SHARES = ("acc", "f1", "bleu", "exact", "novelty")  # metrics in [0, 1]: test/acc, test/seq_acc_long, ...


def is_share(key: str) -> bool:
    """Whether the metric `key` (test/seq_acc_long, test/exact_64bit, test/bleu_greedy) is a share,
    bounded by 0 and 1; the test set's or the decoding's suffix is not part of the name."""
    name = re.sub(r"_(long|greedy|\d+bit)$", "", key.rsplit("/", 1)[-1])
    return name in SHARES or name.endswith("_acc")


class Group:
    """Runs of one setting (seeds apart): per-run test values and, when saved, their test items."""

    def __init__(self, name: str, runs: list):
        self.name = name
        self.runs = sorted(runs, key=lambda r: str(r.path))
        self.rows = [read_rows(r.path) for r in self.runs]
        # a deterministic model (a baseline) on one test set: its runs differ by nothing but the seed they
        # ignore. On several folds its runs differ (other data): a group of runs like any other
        self.fixed = (
            all(r.results.get("deterministic") is True for r in self.runs)
            and len({json.dumps(r.results["test"], sort_keys=True) for r in self.runs}) == 1
        )

    def values(self, key: str) -> list[float]:
        return [r.results["test"][key] for r in self.runs if key in r.results["test"]]

    def interval(self, key: str) -> tuple[stats.Interval, str] | None:
        """The mean of `key` and its 95% interval, with how it was drawn."""
        values = self.values(key)
        if len(values) >= 2 and not self.fixed:
            found = stats.t_interval(values)
            if is_share(key):  # a t-interval knows no bounds: a share's stays within [0, 1]
                found = stats.Interval(found.mean, max(found.low, 0.0), min(found.high, 1.0))
            return found, f"t over {len(values)} runs"
        found = self.items(key) if values else None
        if found is None:
            return (stats.Interval(values[0], float("nan"), float("nan")), "one run") if values else None
        metric, rows, ngrams = found
        # the run's own test value in the middle: the items give it (see `items`), one number under one name
        _, low, high = item_interval(metric, rows, ngrams)
        return stats.Interval(values[0], low, high), f"bootstrap over {len(rows)} items"

    def items(self, key: str) -> tuple[str, list[dict], int] | None:
        """The first run's (metric, test rows, BLEU n-grams) for `key`, where its items give its test
        value: rows that do not (an older run's loss averaged over words, not symbols) would put a
        second number under the metric's name, so the run has no item interval or test then."""
        value = self.runs[0].results["test"].get(key)
        found = item_metric(key, self.rows[0]) if self.rows[0] and value is not None else None
        if found is None:
            return None
        metric, suffix = found
        rows = [r for r in self.rows[0] if r["set"] == suffix]
        ngrams = bleu_ngrams(self.runs[0]) if metric == "bleu" else 4  # read from its config.yaml: BLEU's alone
        return (metric, rows, ngrams) if agrees(value, item_value(metric, rows, ngrams)) else None

    def sample(self, key: str) -> "Sample":
        items = self.items(key) if len(self.runs) == 1 else None
        return Sample(self.name, self.values(key), self.fixed, items, self.test_set(), self.by_test_set(key))

    def by_test_set(self, key: str) -> dict[str, float] | None:
        """The mean of `key` over the runs of each test set, when the runs cover two or more (folds)."""
        found: dict[str, list[float]] = {}
        for run, rows in zip(self.runs, self.rows, strict=True):
            if not rows or key not in run.results["test"]:
                return None
            found.setdefault(json.dumps([[r["set"], r.get("target")] for r in rows]), []).append(
                run.results["test"][key]
            )
        return {k: sum(v) / len(v) for k, v in found.items()} if len(found) >= 2 else None

    def test_set(self) -> str | None:
        """What tells the test items of the group's runs apart: their distinct test sets (each as its
        items' targets, in order: a baseline reads raw inputs where a recurrent run decodes its
        vocabulary's), so seeds on one split give one, the folds of a cross-validation K; None when no
        run saved its items. Two groups are compared only on the same test sets."""
        seen = {json.dumps([[r["set"], r.get("target")] for r in rows]) for rows in self.rows if rows}
        return json.dumps(sorted(seen)) if seen else None


@dataclass
class Sample:
    """What the tests read of a group on one metric."""

    name: str
    values: list[float]  # one per run
    fixed: bool = False  # a deterministic model: its value does not move with the seed
    items: tuple[str, list[dict], int] | None = None  # one run's (metric, test rows, BLEU n-grams)
    test_set: str | None = None  # see Group.test_set: the pair is untested when two groups' differ
    by_test_set: dict[str, float] | None = None  # cross-validation: the mean over runs on each fold's test set

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)


@dataclass
class Pair:
    better: str  # ranked first (the better mean)
    worse: str
    difference: stats.Difference | None  # better - worse in the metric's direction of "better"
    scope: str  # "runs", "items (one run each)", "items (deterministic)", or why it is untested
    sd: float = float("nan")  # the seed spread the planner reads
    groups: int = 2  # 2: runs on both sides; 1: runs against a fixed value
    p: float = float("nan")  # Holm-corrected over the family
    p_equivalent: float = float("nan")
    outcome: str = "untested"  # better, equivalent, inconclusive, untested
    needed: int | None = None  # runs per group that would settle an inconclusive pair
    runs: int = 0  # the runs of the larger group of the two, as tested


def test_pair(a: Sample, b: Sample, margin: float | None, sign: int) -> Pair:
    """The difference a - b (times `sign`: +1 when higher is better, so a positive difference favours
    a) with its interval and tests, chosen by what the groups are (see the module's text)."""
    if a.test_set and b.test_set and a.test_set != b.test_set:
        return Pair(a.name, b.name, None, "untested: not the same test items (another split, or other folds)")
    na, nb = len(a.values), len(b.values)

    def signed(d: stats.Difference) -> stats.Difference:
        if sign > 0:
            return d
        return d._replace(diff=-d.diff, low=-d.high, high=-d.low)

    def spread(values: list[float]) -> float:
        return float(stats.np.std(values, ddof=1)) if len(values) >= 2 else float("nan")

    if a.fixed and b.fixed or (na == 1 and nb == 1):
        scope = "items (deterministic)" if a.fixed and b.fixed else "items (one run each)"
        found = paired_items(a, b, margin)
        if found is None:
            return Pair(a.name, b.name, None, "untested: one run each, no test items")
        return Pair(a.name, b.name, signed(found), scope)
    if a.fixed or b.fixed:
        group, fixed, flip = (a, b, 1) if b.fixed else (b, a, -1)
        if len(group.values) < 2:
            return Pair(a.name, b.name, None, "untested: one run against a fixed value")
        d = stats.fixed_difference(group.values, fixed.mean, margin)
        if flip < 0:
            d = d._replace(diff=-d.diff, low=-d.high, high=-d.low)
        return Pair(a.name, b.name, signed(d), "runs", spread(group.values), groups=1, runs=len(group.values))
    if a.by_test_set and b.by_test_set and a.by_test_set.keys() == b.by_test_set.keys():
        folds = sorted(a.by_test_set)
        d = stats.folds_difference([a.by_test_set[k] for k in folds], [b.by_test_set[k] for k in folds], margin)
        return Pair(a.name, b.name, signed(d), "folds")
    if na >= 2 and nb >= 2:
        d = stats.welch_difference(a.values, b.values, margin)
        sd = math.sqrt((spread(a.values) ** 2 + spread(b.values) ** 2) / 2)
        return Pair(a.name, b.name, signed(d), "runs", sd, runs=max(na, nb))
    # one run against a group: the group's seed spread stands for the single run's as well
    group = a if na >= 2 else b
    sd = spread(group.values)
    se, df = sd * math.sqrt(1 + 1 / len(group.values)), len(group.values) - 1.0
    how = f"t with the spread of {len(group.values)} runs for the single run"
    d = stats.t_difference(a.mean - b.mean, se, df, margin, how)
    return Pair(a.name, b.name, signed(d), "runs", sd, runs=len(group.values))


def paired_items(a: Sample, b: Sample, margin: float | None) -> stats.Difference | None:
    """One run against one run over their shared test items, or None without comparable items."""
    if a.items is None or b.items is None or a.items[0] != b.items[0]:
        return None
    metric, xs, ngrams = a.items
    ys = b.items[1]
    if [r.get("target") for r in xs] != [r.get("target") for r in ys]:
        return None
    how = f"paired over {len(xs)} test items"
    if metric == "bleu":
        refs = [r["references"] for r in xs]
        bleu_a, bleu_b, p = stats.bleu_paired(
            [r["prediction"] for r in xs], [r["prediction"] for r in ys], refs, ngrams
        )
        nan = float("nan")
        return stats.Difference(bleu_a - bleu_b, nan, nan, p, nan, nan, nan, how + " (approximate randomisation)")
    weights = [r.get(f"{metric}_weight", 1) for r in xs]
    va, vb = [r[metric] for r in xs], [r[metric] for r in ys]
    # the 95% interval, and the 90% one: equivalent when it lies within the margin (TOST by intervals)
    diff, (low, high, low90, high90) = stats.paired_differences(va, vb, weights, (stats.LEVEL, 0.90))
    p = stats.paired_permutation(va, vb, weights)
    equivalent = float("nan") if not margin else (0.0 if -margin < low90 and high90 < margin else 1.0)
    return stats.Difference(diff, low, high, p, equivalent, float("nan"), float("nan"), how)


def settle(pairs: list[Pair], margin: float | None) -> list[Pair]:
    """Holm over the family of tested pairs, then each pair's outcome (and the planner's runs)."""
    tested = [p for p in pairs if p.difference is not None]
    for pair, p, q in zip(
        tested,
        stats.holm([p.difference.p for p in tested]),
        stats.holm([p.difference.p_equivalent for p in tested]),
        strict=True,
    ):
        pair.p, pair.p_equivalent = p, q
        if p < ALPHA:
            pair.outcome = "better" if pair.difference.diff > 0 else "worse"
        elif q < ALPHA:
            pair.outcome = "equivalent"
        else:
            pair.outcome = "inconclusive"
            if pair.scope == "runs":
                # at the family's Bonferroni level (Holm never asks for less), and more runs than there are
                needed = stats.runs_needed(
                    pair.difference.diff, pair.sd, margin, ALPHA / len(tested), POWER, pair.groups
                )
                pair.needed = None if needed is None else max(needed, pair.runs + 1)
    return pairs


def verdicts(samples: list[Sample], higher: bool, margin: float | None) -> list[Pair]:
    """Every pair of the samples, better-ranked first, tested and settled (Holm over the family)."""
    ranked = sorted((s for s in samples if s.values), key=lambda s: s.mean, reverse=higher)
    sign = 1 if higher else -1
    return settle([test_pair(a, b, margin, sign) for a, b in combinations(ranked, 2)], margin)


def fmt(p: float) -> str:
    return "n/a" if p != p else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def said(pair: Pair, margin: float | None) -> str:
    """The verdict column: what the test says, in words that say what it is about."""
    if pair.difference is None:
        return pair.scope
    d = pair.difference
    one_each = pair.scope == "items (one run each)"
    about = " on these test items (one run each: these two trained models, not the cells)" if one_each else ""
    if pair.outcome == "better":
        return f"**{pair.better} better** by {abs(d.diff):.4g}{about}"
    if pair.outcome == "worse":  # ranked by mean, yet the test says the other way: cannot happen over runs
        return f"**{pair.worse} better** by {abs(d.diff):.4g}{about}"
    if pair.outcome == "equivalent":
        return f"equivalent within ±{margin:g}{about}"
    if one_each:
        return "inconclusive on these items; one run each says nothing of the cells: train seeds"
    if pair.scope == "folds":
        return (
            "inconclusive; more folds do not shrink the overlap term: repeat the cross-validation on other split seeds"
        )
    if pair.needed is None:
        return f"inconclusive; over {stats.MOST_RUNS} runs per group would be needed at this difference and spread"
    return f"inconclusive; about {pair.needed} runs per group would settle it (80% power, Bonferroni level)"


def verdict(groups: list[Group], key: str, higher: bool, margin: float | None) -> tuple[str, list[Pair]]:
    """The markdown verdict of one task on test metric `key`, and its pairs as data."""
    pairs = verdicts([g.sample(key) for g in groups], higher, margin)
    tested = [p for p in pairs if p.difference is not None]
    better = "higher" if higher else "lower"
    names = sorted({n for p in pairs for n in (p.better, p.worse)})
    equivalence = f"equivalence margin ±{margin:g}" if margin else "no equivalence margin for this metric"
    lines = [
        f"verdict on {key} ({better} is better; the unit is the training run; family: the {len(tested)} "
        f"pair(s) tested of {len(names)} groups ({', '.join(names)}), p-values Holm-corrected, significant "
        f"below {ALPHA}; {equivalence}):",
        "",
        "| pair | difference [95% interval] | test | p | TOST p | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        d = pair.difference
        if d is None:
            lines.append(f"| {pair.better} vs {pair.worse} | | | | | {pair.scope} |")
            continue
        interval = f"{d.diff:+.4g}" + ("" if d.low != d.low else f" [{d.low:+.4g}, {d.high:+.4g}]")
        lines.append(
            f"| {pair.better} vs {pair.worse} | {interval} | {d.how} | {fmt(pair.p)} | "
            f"{fmt(pair.p_equivalent)} | {said(pair, margin)} |"
        )
    if pairs:
        lines += ["", headline(pairs, key)]
    return "\n".join(lines), pairs


def headline(pairs: list[Pair], key: str) -> str:
    """One sentence about the group ranked first: whom it beats, equals, and where it is not settled."""
    first = pairs[0].better
    own = [p for p in pairs if p.better == first]
    beats = [p.worse for p in own if p.outcome == "better" and p.scope != "items (one run each)"]
    equal = [p.worse for p in own if p.outcome == "equivalent"]
    open_ = [p for p in own if p.outcome not in ("better", "equivalent") or p.scope == "items (one run each)"]
    parts = []
    if beats:
        parts.append(f"**{first} is better** than {', '.join(beats)}")
    if equal:
        parts.append(f"equivalent to {', '.join(equal)}")
    if open_:
        needed = [p.needed for p in open_ if p.needed]
        plan = f" (the planner asks for up to {max(needed)} runs per group)" if needed else ""
        parts.append(f"**not settled** against {', '.join(p.worse for p in open_)}{plan}")
    return f"{first} ranks first on {key}: " + "; ".join(parts)


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
    lines = [f"#### {task}: 95% intervals (test numbers)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
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
    text, _ = verdict(groups, key, higher_is_better(runs[0].results), margin_of(task))
    return "\n".join(lines) + f"\n#### {task}: " + text
