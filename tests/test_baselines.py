"""`python -m src.baseline task=T`: the baselines' arithmetic against hand computations, their splits
against the DataModules', their run folders against src.compare, and their bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import src.baseline
from src.analysis.stats import corpus_bleu
from src.analysis.table import compare
from src.baseline import BASELINES, baseline
from src.baselines import carry_free, ngram_classifier, retrieval
from src.baselines.kneser_ney import SYMBOLS, KneserNey
from src.data.binary import decode
from src.paths import CONF_DIR
from src.run.build import build, train


@pytest.fixture(scope="session")
def baseline_cfg(compose):
    return lambda overrides, run_dir: compose(overrides, run_dir, config_name="baseline")


# --- Kneser-Ney ---------------------------------------------------------------------------------


def test_kneser_ney_matches_a_hand_computation():
    # Words ab, ba, b; order 2, D = 0.5; "." is the boundary. Bigram events (history -> symbol):
    #   . -> a, a -> b, b -> .  |  . -> b, b -> a, a -> .  |  . -> b, b -> .
    # History "a": c(a b) = 1, c(a .) = 1, c(a) = 2, N(a) = 2 symbols seen after it.
    # Unigram continuation counts (distinct histories before a symbol): a 2 (., b), b 2 (., a), . 2 (a, b):
    #   total 6 over 3 symbols, so P1(b) = (2 - 0.5 + 0.5 * 3 * 1/27) / 6 = (1.5 + 1/18) / 6 = 7/27,
    #   and a symbol never seen, z: P1(z) = (0 + 1/18) / 6 = 1/108.
    # P(b | a) = (1 - 0.5 + 0.5 * 2 * P1(b)) / 2 = (1/2 + 7/27) / 2 = 41/108
    # P(z | a) = (0 + 0.5 * 2 * 1/108) / 2 = 1/216
    model = KneserNey(["ab", "ba", "b"], order=2, discount=0.5)
    assert model.prob("b", "a") == pytest.approx(41 / 108, abs=1e-15)
    assert model.prob("z", "a") == pytest.approx(1 / 216, abs=1e-15)
    # the word's start reads as the boundary:
    # P(b | .) = (c(. b) - D + D * N(.) * P1(b)) / c(.) = (2 - 0.5 + 0.5 * 2 * 7/27) / 3
    assert model.prob("b", "") == pytest.approx((1.5 + 7 / 27) / 3, abs=1e-15)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_next_symbol_probabilities_sum_to_one_over_the_27_symbols(order):
    model = KneserNey(["tyrannosaurus", "stegosaurus", "raptor", "ab", "abba"], order=order, discount=0.75)
    seen, unseen = ["", "t", "ty", "saur", "abb"], ["q", "qqq", "zx", "tyq", "xyzzy"]
    for history in seen + unseen:
        total = sum(model.prob(symbol, history) for symbol in SYMBOLS)
        assert len(SYMBOLS) == 27 and total == pytest.approx(1.0, abs=1e-12), history
        assert all(model.prob(symbol, history) > 0 for symbol in SYMBOLS)


def test_kneser_ney_nll_counts_one_end_symbol_per_word():
    model = KneserNey(["ab", "ba", "b"], order=2, discount=0.5)
    # "ab": P(a | .), P(b | a), P(. | b): three symbols for two letters
    # P(a | .) = (c(. a) - D + D * N(.) * P1(a)) / c(.) = (1 - 0.5 + 0.5 * 2 * 7/27) / 3
    # P(. | b) = (c(b .) - D + D * N(b) * P1(.)) / c(b) = (2 - 0.5 + 0.5 * 2 * 7/27) / 3
    p_a, p_b, p_end = (0.5 + 7 / 27) / 3, 41 / 108, (1.5 + 7 / 27) / 3
    assert model.nll(["ab"]) == pytest.approx(-(math.log(p_a) + math.log(p_b) + math.log(p_end)) / 3, abs=1e-12)


# --- the other baselines' scores ------------------------------------------------------------------


def test_names_scores_by_hand():
    # 4 names, 3 languages; guesses 0, 1, 1, 2 for truths 0, 1, 2, 2:
    # accuracy 3/4; recall 1, 1, 1/2 -> balanced 5/6; F1 per class 1, 2/3 (p 1/2, r 1), 2/3 (p 1, r 1/2) -> 7/9
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    got = ngram_classifier.scores(probs, np.array([0, 1, 2, 2]), "test", label_smoothing=0.0)
    assert got["test/acc"] == pytest.approx(3 / 4)
    assert got["test/bal_acc"] == pytest.approx(5 / 6)
    assert got["test/f1"] == pytest.approx(7 / 9, abs=1e-6)
    assert got["test/loss"] == pytest.approx(-(math.log(0.8) * 2 + math.log(0.3) + math.log(0.8)) / 4)
    # prior_tau as the cells apply it: rank by log p - tau x log prior. Priors 0.5, 0.4, 0.1 and tau 1:
    # the third name's scores log 0.2 - log 0.5 = -0.92, log 0.5 - log 0.4 = 0.22, log 0.3 - log 0.1 = 1.10:
    # language 2 now (right), the rest unchanged -> accuracy 1; the loss is p's own, unchanged
    shift = np.log(np.array([0.5, 0.4, 0.1]))
    adjusted = ngram_classifier.scores(probs, np.array([0, 1, 2, 2]), "test", label_smoothing=0.0, shift=shift)
    assert adjusted["test/acc"] == 1.0 and adjusted["test/loss"] == got["test/loss"]


def test_xor_rule_by_hand():
    # 39 + 17 = 56: 39 ^ 17 = 54 = 00110110, 56 = 00111000 (MSB first): bits 0, 4, 5, 6, 7 agree -> 5/8.
    # 5 + 2 = 7 = 5 ^ 2: no carry, all 8 right. Together: 13/16 bits, 1/2 sums.
    got = carry_free.scores([39, 5], [17, 2], 8, "add", "test", "bit")
    assert got == {"test/bit_acc": 13 / 16, "test/seq_acc": 0.5}
    # 209 - 17 = 192; 209 ^ 17 = 192 too (17's bits are all in 209): no borrow, right
    assert carry_free.scores([209], [17], 8, "sub", "test", "bit") == {"test/bit_acc": 1.0, "test/seq_acc": 1.0}


def test_retrieval_answers_with_the_nearest_training_source_and_scores_as_seq2seq():
    train = [("i am cold .", "j ai froid ."), ("i am cold .", "j ai tres froid ."), ("he is tall .", "il est grand .")]
    model = retrieval.NearestSource(train, "word", ngram_max=1)
    assert model(["i am very cold .", "he is .", "xyz"]) == ["j ai froid .", "il est grand .", "j ai froid ."]
    items = [("i am cold .", ["j ai froid .", "j ai tres froid ."]), ("he is .", ["il est ."])]
    got = retrieval.scores(["j ai tres froid .", "il est grand ."], items, "test", 2, chars=False)
    # corpus BLEU-2 over both items with all their references, as Seq2Seq computes it: the one BLEU
    bleu = corpus_bleu(
        ["j ai tres froid .", "il est grand ."], [["j ai froid .", "j ai tres froid ."], ["il est ."]], 2
    )
    assert got == {"test/bleu": bleu, "test/exact": 0.5} and 0 < bleu < 1
    # characters: tokens are letters, space-joined as Seq2Seq does for pairs
    assert retrieval.scores(["women"], [("man", ["women"])], "test", 2, chars=True)["test/bleu"] == 1.0


# --- the same splits as the recurrent runs ------------------------------------------------------


def test_names_split_is_the_datamodules(data_dir: Path, tmp_path: Path, baseline_cfg):
    cfg = baseline_cfg(["task=names", f"paths.data_dir={data_dir}"], tmp_path)
    train_rows, val_rows, test_rows = ngram_classifier.read_splits(cfg.task.data)
    dm = build(cfg.task.data, "task.data")
    dm.prepare_data()
    dm.setup("fit")
    for rows, split in ((train_rows, "train"), (val_rows, "val"), (test_rows, "test")):
        data = dm.datasets[split]
        names = ["".join(dm.spec.vocab.decode(t[:n].tolist())) for t, n in zip(data.tokens, data.lengths, strict=True)]
        languages = [dm.spec.labels[i] for i in data.targets.tolist()]
        assert rows == list(zip(names, languages, strict=True)), split
    assert ("Belanger", "Italian") in train_rows + val_rows + test_rows  # folded, as the DataModule does


def test_translate_split_is_the_datamodules(data_dir: Path, tmp_path: Path, baseline_cfg):
    cfg = baseline_cfg(["task=translate", f"paths.data_dir={data_dir}"], tmp_path)
    train_pairs, val, test = retrieval.read_splits(cfg)
    dm = build(cfg.task.data, "task.data")
    dm.prepare_data()
    dm.setup("fit")
    assert len(train_pairs) == len(dm.datasets["train"])
    for items, split in ((val, "val"), (test, "test")):
        assert [refs for _, refs in items] == dm.references(split)  # every reference of each source, in order
        sources = [" ".join(dm.spec.source.decode(row)) for row in dm.datasets[split].src.tolist()]
        assert [source for source, _ in items] == sources


def test_binary_sets_are_the_datamodules(tmp_path: Path, baseline_cfg):
    cfg = baseline_cfg(
        ["task=binary", "task.data.train_size=50", "task.data.test_size=20", "task.data.op=sub"], tmp_path
    )
    splits = carry_free.read_splits(cfg.task.data)
    dm = build(cfg.task.data, "task.data")
    dm.setup("fit")
    for split in ("train", "val", "test", "test_long"):
        a, b, bits = splits[split]
        assert [decode(row) for row in dm.datasets[split].tokens.tolist()] == list(zip(a, b, strict=True)), split
        assert bits == dm.datasets[split].tokens.shape[1]


# --- run folders, compare, TensorBoard ---------------------------------------------------------


def test_baseline_and_recurrent_runs_share_one_compare_table(
    data_dir: Path, tmp_path: Path, tiny: list[str], compose, baseline_cfg
):
    train(compose(tiny, tmp_path / "runs" / "gru"))
    options = ["baseline.ngram_max=[2,3]", "baseline.C=[1,10]"]
    results = baseline(baseline_cfg(["task=names", f"paths.data_dir={data_dir}", *options], tmp_path / "runs" / "lr"))
    run = tmp_path / "runs" / "lr"
    assert json.loads((run / "results.json").read_text()) == results
    assert results["model"] == "char_ngram_lr" and results["monitor"] == "val/acc"
    assert set(results["test"]) == {"test/acc", "test/f1", "test/bal_acc", "test/loss"}
    assert results["chosen"]["ngram_max"] in (2, 3) and results["chosen"]["C"] in (1.0, 10.0)
    assert results["params"] % 3 == 0 and results["params"] > 3  # 3 languages x (features + intercept)
    assert "model:" not in (run / "config.yaml").read_text()  # the recurrent sizes a task config brings: left out

    events = EventAccumulator(str(run)).Reload()
    assert {"val/acc", "test/acc", "test/f1"} <= set(events.Tags()["scalars"])
    hparams = events.PluginTagToContent("hparams")
    assert b"baseline.chosen.C" in hparams["_hparams_/session_start_info"] and "_hparams_/experiment" not in hparams

    report = compare(tmp_path / "runs")
    table = report.split("\n#### ")[0]  # the table; the statistics follow it
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert any(r.startswith("| gru |") for r in rows) and any(r.startswith("| char_ngram_lr |") for r in rows)
    assert len({r.count("|") for r in rows}) == 1  # one table: the same columns for both

    # its test items, in the recurrent runs' rows: the same items in the same order, scored as test/acc
    items = [json.loads(line) for line in (run / "test_predictions.jsonl").read_text().splitlines()]
    gru = [json.loads(line) for line in (tmp_path / "runs" / "gru" / "test_predictions.jsonl").read_text().splitlines()]
    assert [(r["set"], r["input"], r["target"]) for r in items] == [(r["set"], r["input"], r["target"]) for r in gru]
    assert set(items[0]) == set(gru[0])
    assert sum(r["acc"] for r in items) / len(items) == pytest.approx(results["test"]["test/acc"])
    assert results["deterministic"] is True and results["by_length"]
    # one run against a deterministic baseline: the test over items, said to be about these two models
    pair = next(line for line in report.splitlines() if " vs " in line)
    assert "char_ngram_lr" in pair and "paired over" in pair
    assert "these two trained models" in pair or "one run each says nothing of the cells" in pair

    # a second seed: the seeds against the baseline's fixed value, a test over runs
    train(compose([*tiny, "seed=7"], tmp_path / "runs" / "gru_7"))
    pair = next(line for line in compare(tmp_path / "runs").splitlines() if " vs " in line)
    assert "one-sample t over 2 runs vs a fixed value" in pair


@pytest.mark.parametrize(
    ("task", "metric"),
    [("dinos", "test/nll"), ("pairs", "test/bleu"), ("binary", "test/seq_acc_long")],
)
def test_each_tasks_default_baseline_writes_the_tasks_metric_keys(data_dir, tmp_path, task, metric, baseline_cfg):
    smaller = {"dinos": ["baseline.order=[2,3]", "baseline.discount=[0.5,1.0]"], "binary": ["task.data.train_size=100"]}
    results = baseline(baseline_cfg([f"task={task}", f"paths.data_dir={data_dir}", *smaller.get(task, [])], tmp_path))
    assert metric in results["test"] and (tmp_path / "results.json").is_file()
    # its test items score as its test metric does (compare's item tests and per-length results read them)
    rows = [json.loads(line) for line in (tmp_path / "test_predictions.jsonl").read_text().splitlines()]
    name = metric.removeprefix("test/").removesuffix("_long")
    part = [r for r in rows if r["set"] == ("_long" if metric.endswith("_long") else "")]
    if name == "bleu":
        value = corpus_bleu([r["prediction"] for r in part], [r["references"] for r in part])
    else:
        value = sum(r[name] * r.get(f"{name}_weight", 1) for r in part) / sum(r.get(f"{name}_weight", 1) for r in part)
    assert value == pytest.approx(results["test"][metric])
    if task == "pairs":  # the course's toy tests on its training pairs: retrieval finds each one
        assert results["test"] == {"test/bleu": 1.0, "test/exact": 1.0}
    if task == "dinos":
        nll = results["test"]["test/nll"]
        assert results["test"]["test/ppl"] == pytest.approx(math.exp(nll)) and 0 < nll < math.log(27)


def test_every_task_with_a_baseline_has_a_default_that_fits_it(baseline_cfg):
    tasks = sorted(p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml"))
    defaults = sorted(p.stem for p in (Path(CONF_DIR) / "baseline" / "default").glob("*.yaml"))
    assert defaults == sorted(t for t in tasks if any(t in m.TASKS for m in BASELINES.values()))
    assert "hello" in tasks and "hello" not in defaults
    for task in defaults:
        cfg = baseline_cfg([f"task={task}"], Path("unused"))
        assert task in BASELINES[cfg.baseline.name].TASKS


# --- bad input: one line, exit 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["task=hello"], ["task=hello has no baseline", "names"]),
        (["baseline=foo"], ["baseline=foo is not a choice", "kneser_ney"]),
        (["task=names", "baseline=kneser_ney"], ["baseline=kneser_ney is for task=dinos", "char_ngram_lr"]),
        (["task=names", "baseline.order=[3]"], ["baseline.order is not an option of char_ngram_lr", "kneser_ney"]),
        (["task=nope"], ["task=nope is not a choice"]),
    ],
)
def test_bad_input_is_one_line(argv, needles, tmp_path, run_cli, one_clear_line):
    code, _, err = run_cli(src.baseline, [*argv, f"hydra.run.dir={tmp_path / 'run'}"])
    one_clear_line(code, err, *needles)
    assert not (tmp_path / "run").exists()  # refused before Hydra made a run folder
