"""The names classifier's training loss under each class_balance, against hand computations."""

import math

import pytest
import torch

from src.data.batching import Batch
from src.data.specs import ClassificationSpec
from src.data.vocab import PAD, Vocab
from src.errors import UserError
from src.run.budget import core_args
from src.run.build import build


def classifier(compose, tmp_path, class_balance: str, counts: list[int]):
    cfg = compose([f"task.module.class_balance={class_balance}", "task.module.label_smoothing=0.0"], tmp_path)
    spec = ClassificationSpec(vocab=Vocab("ab", specials=[PAD]), labels=["x", "y"], label_counts=counts).to_dict()
    model, _ = core_args(cfg.model)  # the core's arguments, as build_run takes them (src/run/budget.py)
    return build(cfg.task.module, "task.module", spec=spec, model=model, _convert_="all")


@pytest.mark.parametrize("class_balance", ["none", "weights", "logit_adjust"])
def test_class_balance_losses(class_balance, compose, tmp_path):
    torch.manual_seed(0)
    module = classifier(compose, tmp_path, class_balance, counts=[1, 3]).eval()  # prior 1/4, 3/4
    batch = Batch(torch.tensor([[1, 2], [2, 1]]), torch.tensor([2, 2]), torch.tensor([0, 1]))
    out = module.step(batch, "val")
    logits = module.net(batch.tokens, batch.lengths).detach()  # the loss is on the raw logits (out.preds: prior_tau)
    logp = lambda z: z.log_softmax(-1)  # noqa: E731
    if class_balance == "none":
        expected = -(logp(logits)[0, 0] + logp(logits)[1, 1]) / 2
    elif class_balance == "weights":
        # weights 1 / (prior * C): x 1 / (1/4 * 2) = 2, y 1 / (3/4 * 2) = 2/3; the mean is weighted by them
        w = torch.tensor([2.0, 2 / 3])
        expected = -(w[0] * logp(logits)[0, 0] + w[1] * logp(logits)[1, 1]) / (w[0] + w[1])
    else:
        # the loss sees logits + log prior: log 1/4 on x, log 3/4 on y
        adjusted = logits + torch.tensor([math.log(1 / 4), math.log(3 / 4)])
        expected = -(logp(adjusted)[0, 0] + logp(adjusted)[1, 1]) / 2
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_unknown_class_balance_is_one_line(tmp_path, run_cli, one_clear_line):
    import src.train

    code, _, err = run_cli(src.train, ["task.module.class_balance=foo", f"hydra.run.dir={tmp_path}"])
    one_clear_line(code, err, "task.module.class_balance=foo is unknown; use one of none, weights, logit_adjust")


def test_prior_tau_ranks_by_logits_minus_tau_log_prior(compose, tmp_path):
    cfg = compose(["task.module.prior_tau=0.5"], tmp_path)
    spec = ClassificationSpec(vocab=Vocab("ab", specials=[PAD]), labels=["x", "y"], label_counts=[1, 3]).to_dict()
    model, _ = core_args(cfg.model)
    module = build(cfg.task.module, "task.module", spec=spec, model=model, _convert_="all").eval()
    raw = torch.tensor([[0.0, 0.5], [0.0, 0.9]])
    # by hand: minus 0.5 log(1/4) = +0.6931 on x, minus 0.5 log(3/4) = +0.1438 on y
    expected = torch.tensor([[0.6931, 0.6438], [0.6931, 1.0438]])
    torch.testing.assert_close(module.adjusted(raw), expected, atol=1e-4, rtol=0)
    assert module.adjusted(raw).argmax(-1).tolist() == [0, 1]  # the first name's label flips to the rarer x
    batch = Batch(torch.tensor([[1, 2], [2, 1]]), torch.tensor([2, 2]), torch.tensor([0, 1]))
    out = module.step(batch, "val")
    torch.testing.assert_close(out.preds, module.adjusted(module.net(batch.tokens, batch.lengths)))
    with pytest.raises(UserError, match=r"task.module.prior_tau=-1; use a weight in \[0, 2\]"):
        build(cfg.task.module, "task.module", spec=spec, model=model, _convert_="all", prior_tau=-1)
