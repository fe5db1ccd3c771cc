"""A parameter budget: the hidden size that gives a task's whole model N parameters.

`model.param_budget=N` compares cells at equal size rather than equal width (at width 256 an LSTM
has 4/3 of a GRU's parameters and 4 times an RNN's). Every other size stays as configured; the
hidden size is found by bisection over candidate models built on the meta device (no memory, no
arithmetic), with torch's random state put back, so the run that follows starts as it would with
that hidden size given outright. Only the sizes the core can take are tried: the multiples of its
`hidden_grain` (a transformer's heads; every size for a recurrent cell).
"""

import functools
import math
from collections.abc import Callable

import torch

from src.errors import UserError

TOLERANCE = 0.02  # the chosen model is within 2% of the budget
LARGEST = 1 << 15  # hidden sizes searched: 1 .. LARGEST


def core_args(model) -> tuple[dict, int | None]:
    """The model config (cfg.model) as the recurrent core's arguments, and its parameter budget (None
    when the hidden size is given outright). The one place the config becomes the core's arguments:
    building a run, a fair comparison's candidate models and a resume's check all take it from here."""
    from omegaconf import OmegaConf

    core = OmegaConf.to_container(model, resolve=True)
    budget = core.pop("param_budget", None)
    return core, budget


def grain(model: dict) -> int:
    """The step between the hidden sizes the core of `model` can take (src/nn/recurrent.py `core_class`)."""
    from src.nn.recurrent import core_class

    return core_class(model["cell"]).hidden_grain(model)


def count(build: Callable[[dict], torch.nn.Module], model: dict, hidden_size: int) -> int:
    with torch.random.fork_rng(), torch.device("meta"):
        module = build({**model, "hidden_size": hidden_size})
    return sum(p.numel() for p in module.parameters())


def sizes_near(counter: Callable[[int], int], step: int, budget: int) -> dict[int, int]:
    """hidden size -> parameters (`counter(hidden size)`) for the few multiples of `step` around the
    first that reaches `budget`, found by bisection: about 20 counts, whatever the budget."""
    low, high = 0, LARGEST // step  # the smallest k with at least `budget` parameters is in (low, high]
    if counter(high * step) < budget:
        raise UserError(f"model.param_budget={budget} needs a hidden size above {high * step}; lower it")
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if counter(mid * step) < budget else (low, mid)
    # the count is not quite monotone (e.g. dinos drops a projection where hidden = embedding): look around
    return {k * step: counter(k * step) for k in range(max(1, high - 2), high + 3)}


def fit_hidden_size(build: Callable[[dict], torch.nn.Module], model: dict, budget: int) -> tuple[int, int]:
    """(hidden size, parameters) nearest `budget`; `build(model config) -> module`. A budget no
    hidden size meets within TOLERANCE is a UserError."""
    if budget < 1:
        raise UserError(f"model.param_budget={budget}; give a number of parameters, e.g. model.param_budget=500000")
    step = grain(model)
    smallest = count(build, model, step)
    if smallest > budget * (1 + TOLERANCE):
        raise UserError(
            f"model.param_budget={budget} is below the smallest {model['cell']} model of this task "
            f"({smallest:,} parameters at hidden_size={step}); raise it or shrink the other sizes"
        )
    sizes = sizes_near(lambda hidden: count(build, model, hidden), step, budget)
    hidden = min(sizes, key=lambda h: abs(sizes[h] - budget))
    if abs(sizes[hidden] - budget) > TOLERANCE * budget:
        below = max((h for h in sizes if sizes[h] < budget), default=hidden)
        above = min((h for h in sizes if sizes[h] >= budget), default=hidden)
        raise UserError(
            f"model.param_budget={budget} cannot be met within 2%: hidden_size={below} gives {sizes[below]:,} "
            f"parameters and {above} gives {sizes[above]:,}; pick a budget nearer one of those"
        )
    return hidden, sizes[hidden]


def common_budget(build: Callable[[dict], torch.nn.Module], models: list[dict], target: int) -> int:
    """The smallest budget from `target` up that every model config (a cell each) meets within
    TOLERANCE. Large models meet any budget; in tiny ones (binary: 16 units, about 1,100 parameters)
    one unit is more than 2% of the model, and a transformer's widths (multiples of its heads) lie
    further apart, so the models' sizes interleave and some budgets suit none.

    From `target` up: a model that meets no budget b has nothing within 2% of b, so its next chance
    is its smallest count n above b, at b' = ceil(n / (1 + TOLERANCE)); every budget before the
    latest such b' fails for some model, so the search jumps there (a bisection a model a step, its
    counts remembered, not every hidden size of every model). Where a count dips (dinos drops a
    projection where hidden = embedding) the answer is the smallest budget `fit_hidden_size` accepts
    for every model, which is what each run then asks."""
    counters = [functools.cache(lambda hidden, model=model: count(build, model, hidden)) for model in models]
    budget = target
    while budget <= 3 * target:
        later = budget
        for model, counter in zip(models, counters, strict=True):
            try:
                counts = sizes_near(counter, grain(model), budget).values()
            except UserError:  # past the largest hidden size: the budget a run asks of fair_cells is too large
                raise UserError(
                    f"no {model['cell']} model reaches {budget:,} parameters (hidden sizes up to {LARGEST:,}); "
                    "give a smaller fair_cells.budget"
                ) from None
            if not any(abs(n - budget) <= TOLERANCE * budget for n in counts):
                above = min(n for n in counts if n > budget)  # exists: the sizes reach past `budget`
                later = max(later, math.ceil(above / (1 + TOLERANCE)))
        if later == budget:
            return budget
        budget = later
    raise UserError(
        f"no budget from {target} to 3 times that suits every cell within 2%; give a larger fair_cells.budget "
        "or fewer budget_share choices"
    )
