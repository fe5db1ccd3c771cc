"""Names -> language without recurrence: a bag of character n-grams (TF-IDF) and a logistic regression.

Every (ngram_max, C) of `baseline.*` is fitted on the training names and the best val/acc (the
recurrent runs' monitored metric) is tested. The task's post-hoc `task.module.prior_tau` (labels
ranked by log p - prior_tau x log prior) applies here as it does to the cells. Metrics are the
classifier task's: accuracy and macro-F1 from torchmetrics as the recurrent runs compute them, `loss`
the same label-smoothed cross-entropy, plus `bal_acc`, the mean recall over languages.
"""

import logging

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from src.baselines import Outcome, choose, prepared_datamodule

log = logging.getLogger(__name__)

TASKS = ("names",)


def read_splits(data: DictConfig) -> tuple[list[tuple[str, str]], ...]:
    """(train, val, test) lists of (clean name, language): the NamesDataModule's own rows."""
    rows = prepared_datamodule(data).rows  # the files found (or downloaded) and checked as a training run does
    return rows["train"], rows["val"], rows["test"]


def ranked(probs: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The scores labels are ranked by: log p - shift, where shift is prior_tau x log prior (the
    classifier task's post-hoc logit adjustment; 0 leaves the ranking of p as it is)."""
    return np.log(np.clip(probs, 1e-12, None)) - shift


def scores(
    probs: np.ndarray, targets: np.ndarray, prefix: str, label_smoothing: float, shift: np.ndarray | float = 0.0
) -> dict[str, float]:
    """The classifier task's metrics of (N, C) class probabilities against (N,) class ids: accuracy,
    macro-F1 and balanced accuracy of the labels ranked by `ranked`, the loss of p itself."""
    p, y = torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(targets)
    n = p.shape[1]
    log_p = p.clamp_min(1e-12).log()  # log-probabilities are logits whose softmax is p itself
    scores_ = torch.as_tensor(ranked(probs, shift))
    return {
        f"{prefix}/acc": float(multiclass_accuracy(scores_, y, n, average="micro")),
        f"{prefix}/f1": float(multiclass_f1_score(scores_, y, n, average="macro")),
        f"{prefix}/bal_acc": float(balanced_accuracy_score(targets, scores_.argmax(1).numpy())),
        f"{prefix}/loss": float(F.cross_entropy(log_p, y, label_smoothing=label_smoothing)),
    }


def evaluate(cfg: DictConfig) -> Outcome:
    options = cfg.baseline
    train, val, test = read_splits(cfg.task.data)
    labels = sorted({language for part in (train, val, test) for _, language in part})  # as the DataModule's spec
    index = {language: i for i, language in enumerate(labels)}
    names = {"train": [n for n, _ in train], "val": [n for n, _ in val], "test": [n for n, _ in test]}
    targets = {
        split: np.array([index[lang] for _, lang in part])
        for split, part in (("train", train), ("val", val), ("test", test))
    }
    smoothing = float(cfg.task.module.get("label_smoothing", 0.0))
    # the task's post-hoc options apply to its baseline as to the cells: prior_tau x log prior of the
    # training labels (counts at least 1, as SequenceClassifier's) is taken off before ranking
    tau = float(cfg.task.module.get("prior_tau", 0.0))
    counts = np.maximum(np.bincount(targets["train"], minlength=len(labels)), 1)
    shift = tau * np.log(counts / counts.sum())

    def probabilities(model: LogisticRegression, features) -> np.ndarray:
        """(N, len(labels)): a language absent from training gets probability 0."""
        probs = np.zeros((features.shape[0], len(labels)))
        probs[:, model.classes_] = model.predict_proba(features)
        return probs

    tried, kept = [], None  # kept: (candidate, vectorizer, model) of the best so far
    for ngram_max in options.ngram_max:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, int(ngram_max)), sublinear_tf=True)
        train_features, val_features = vectorizer.fit_transform(names["train"]), vectorizer.transform(names["val"])
        for c in options.C:
            model = LogisticRegression(C=float(c), class_weight=options.class_weight, max_iter=int(options.max_iter))
            model.fit(train_features, targets["train"])
            settings = {"ngram_max": int(ngram_max), "C": float(c)}
            val_scores = scores(probabilities(model, val_features), targets["val"], "val", smoothing, shift)
            tried.append({**settings, **val_scores})
            log.info("%s: %s", options.name, tried[-1])
            if kept is None or choose([kept[0], tried[-1]], "val/acc", "max") is tried[-1]:
                kept = (tried[-1], vectorizer, model)
    best, vectorizer, model = kept
    test_probs = probabilities(model, vectorizer.transform(names["test"]))
    guesses = ranked(test_probs, shift).argmax(1)
    examples = [
        f"{name}: {labels[g]} ({'right' if g == t else f'wrong: {labels[t]}'})"
        for name, g, t in zip(names["test"][:12], guesses, targets["test"], strict=False)
    ]
    log_p = torch.as_tensor(test_probs, dtype=torch.float64).clamp_min(1e-12).log()
    losses = F.cross_entropy(log_p, torch.as_tensor(targets["test"]), label_smoothing=smoothing, reduction="none")
    rows = [
        {
            "set": "",
            "input": name,
            "target": labels[t],
            "prediction": labels[g],
            "loss": loss,
            "loss_weight": 1.0,
            "length": len(name),
            "acc": float(g == t),
        }  # test/loss: the plain mean over names
        for name, t, g, loss in zip(
            names["test"], targets["test"].tolist(), guesses.tolist(), losses.tolist(), strict=True
        )
    ]
    return Outcome(
        val={k: v for k, v in best.items() if k.startswith("val/")},
        test=scores(test_probs, targets["test"], "test", smoothing, shift),
        rows=rows,
        params=int(model.coef_.size + model.intercept_.size),
        chosen={"ngram_max": best["ngram_max"], "C": best["C"], "prior_tau": tau},
        tried=tried,
        examples=examples,
    )
