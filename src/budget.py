"""A parameter budget: the hidden size that gives a task's whole model N parameters.

`model.param_budget=N` compares cells at equal size rather than equal width (at width 256 an LSTM
has 4/3 of a GRU's parameters and 4 times an RNN's). Every other size stays as configured; the
hidden size is found by bisection over candidate models built on the meta device (no memory, no
arithmetic), with torch's random state put back, so the run that follows starts as it would with
that hidden size given outright.
"""

from collections.abc import Callable

import torch

from src.errors import UserError

TOLERANCE = 0.02  # the chosen model is within 2% of the budget
LARGEST = 1 << 15  # hidden sizes searched: 1 .. LARGEST


def count(build: Callable[[dict], torch.nn.Module], model: dict, hidden_size: int) -> int:
    with torch.random.fork_rng(), torch.device("meta"):
        module = build({**model, "hidden_size": hidden_size})
    return sum(p.numel() for p in module.parameters())


def fit_hidden_size(build: Callable[[dict], torch.nn.Module], model: dict, budget: int) -> tuple[int, int]:
    """(hidden size, parameters) nearest `budget`; `build(model config) -> module`. A budget no
    hidden size meets within TOLERANCE is a UserError."""
    if budget < 1:
        raise UserError(f"model.param_budget={budget}; give a number of parameters, e.g. model.param_budget=500000")
    smallest = count(build, model, 1)
    if smallest > budget * (1 + TOLERANCE):
        raise UserError(
            f"model.param_budget={budget} is below the smallest {model['cell']} model of this task "
            f"({smallest:,} parameters at hidden_size=1); raise it or shrink the other sizes"
        )
    low, high = 1, LARGEST  # the smallest size with at least `budget` parameters is in (low, high]
    if count(build, model, high) < budget:
        raise UserError(f"model.param_budget={budget} needs a hidden size above {LARGEST}; lower it")
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(build, model, mid) < budget else (low, mid)
    # the count is not quite monotone (e.g. dinos drops a projection where hidden = embedding): look around
    sizes = {h: count(build, model, h) for h in range(max(1, high - 2), high + 3)}
    hidden = min(sizes, key=lambda h: abs(sizes[h] - budget))
    if abs(sizes[hidden] - budget) > TOLERANCE * budget:
        raise UserError(
            f"model.param_budget={budget} cannot be met within 2%: hidden_size={hidden} gives {sizes[hidden]:,} "
            "parameters; pick a budget nearer that, or change the other sizes"
        )
    return hidden, sizes[hidden]
