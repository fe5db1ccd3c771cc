"""Dinosaur names without recurrence: an interpolated Kneser-Ney character n-gram language model.

Over the recurrent model's 27 symbols (`src.data.dinos.SYMBOLS`: the boundary, then a-z): a word is
read after `order - 1` boundaries and ends with one, the symbol the recurrent model predicts last.
Scored as the recurrent `test/nll`: nats per predicted symbol, the end of each word counted.

Interpolated Kneser-Ney (Chen and Goodman 1998, one absolute discount D for every order): at the
top order, with c the counts of what followed history h,

    P(w | h) = (max(c(h w) - D, 0) + D * N(h) * P(w | h')) / c(h)

where N(h) is the number of different symbols seen after h and h' is h without its oldest symbol.
The lower orders are the same formula with c replaced by continuation counts, the number of
different symbols seen before h' w; below order 1 is the uniform 1/27. A history never seen passes
its whole mass down. Each order sums to 1 over the 27 symbols when 0 < D <= 1.
"""

import logging
import math
import random
from collections import Counter, defaultdict

from omegaconf import DictConfig

from src.baselines import Outcome, choose, prepared_datamodule
from src.data.dinos import LETTERS

log = logging.getLogger(__name__)

TASKS = ("dinos",)
BOUNDARY = "."  # as a character here: the recurrent vocabulary's END, the start context and end of every word
SYMBOLS = BOUNDARY + LETTERS  # the recurrent model's 27 symbols


class KneserNey:
    def __init__(self, words: list[str], order: int, discount: float, symbols: str = SYMBOLS):
        if order < 1 or not 0 < discount <= 1:
            raise ValueError(f"order={order}, discount={discount}: need order >= 1 and 0 < discount <= 1")
        self.order, self.discount, self.symbols = order, discount, symbols
        # counts[k][h][w] for histories h of k - 1 symbols: occurrences at the top order, continuation
        # counts (distinct symbols seen before h w) below it
        top = defaultdict(Counter)
        for word in words:
            padded = BOUNDARY * (order - 1) + word + BOUNDARY
            for i in range(order - 1, len(padded)):
                top[padded[i - order + 1 : i]][padded[i]] += 1
        self.counts = {order: top}
        for k in range(order - 1, 0, -1):
            lower = defaultdict(Counter)
            for history, following in self.counts[k + 1].items():
                for symbol in following:  # one per distinct longer history that ends in history[1:]
                    lower[history[1:]][symbol] += 1
            self.counts[k] = lower
        self.totals = {k: {h: sum(c.values()) for h, c in counts.items()} for k, counts in self.counts.items()}

    def prob(self, symbol: str, history: str) -> float:
        """P(symbol | history): history is the word so far (the start boundaries are added here)."""
        history = (BOUNDARY * (self.order - 1) + history)[len(history) :]  # the last order - 1 symbols
        p = 1.0 / len(self.symbols)
        for k in range(1, self.order + 1):
            h = history[len(history) - (k - 1) :]
            following = self.counts[k].get(h)
            if following:  # else: an unseen history passes all its mass down
                kept = max(following[symbol] - self.discount, 0.0)
                p = (kept + self.discount * len(following) * p) / self.totals[k][h]
        return p

    def sample(self, rng: random.Random, max_length: int = 50) -> str:
        """A word drawn symbol by symbol until the end boundary (or max_length symbols)."""
        word = ""
        while len(word) < max_length:
            symbol = rng.choices(self.symbols, weights=[self.prob(s, word) for s in self.symbols])[0]
            if symbol == BOUNDARY:
                break
            word += symbol
        return word

    def nll(self, words: list[str]) -> float:
        """Nats per symbol over the words, each read to its end boundary (as the recurrent test/nll)."""
        total, count = 0.0, 0
        for word in words:
            for i, symbol in enumerate(word + BOUNDARY):
                total -= math.log(self.prob(symbol, word[:i]))
                count += 1
        return total / count

    def rows(self, words: list[str]) -> list[dict]:
        """The recurrent language model's test rows: per word its NLL per symbol (end included), weighted
        by its symbols, and the most likely next symbol at every step as the prediction."""
        rows = []
        for word in words:
            steps = [{s: self.prob(s, word[:i]) for s in self.symbols} for i in range(len(word) + 1)]
            nll = -sum(math.log(p[symbol]) for p, symbol in zip(steps, word + BOUNDARY, strict=True)) / len(steps)
            guess = "".join(max(p, key=p.get) for p in steps).replace(BOUNDARY, "")
            rows.append(
                {
                    "set": "",
                    "input": word,
                    "target": word,
                    "prediction": guess,
                    "loss": nll,
                    "loss_weight": len(steps),
                    "length": len(word),
                    "nll": nll,
                    "nll_weight": len(steps),
                }
            )
        return rows

    def size(self) -> int:
        """Counts stored, every order: the numbers this model fitted."""
        return sum(len(following) for counts in self.counts.values() for following in counts.values())


def evaluate(cfg: DictConfig) -> Outcome:
    words = prepared_datamodule(cfg.task.data).words  # the DataModule's own split, as plain lists
    tried = []
    for order in cfg.baseline.order:
        for discount in cfg.baseline.discount:
            val_nll = KneserNey(words["train"], int(order), float(discount)).nll(words["val"])
            tried.append({"order": int(order), "discount": float(discount), "val/nll": val_nll})
            log.info("kneser_ney: %s", tried[-1])
    best = choose(tried, "val/nll", "min")
    model = KneserNey(words["train"], best["order"], best["discount"])
    nll = model.nll(words["test"])
    return Outcome(
        val={"val/nll": best["val/nll"], "val/loss": best["val/nll"]},
        test={"test/nll": nll, "test/loss": nll, "test/bpc": nll / math.log(2), "test/ppl": math.exp(nll)},
        params=model.size(),
        chosen={"order": best["order"], "discount": best["discount"]},
        tried=tried,
        examples=samples(model, set(words["train"])),
        rows=model.rows(words["test"]),
    )


def samples(model: KneserNey, seen: set[str], count: int = 12) -> list[str]:
    """Words drawn from the model (seeded), each marked new or seen in training, as the recurrent runs show them."""
    rng = random.Random(0)
    return [f"{w} ({'seen' if w in seen else 'new'})" for w in (model.sample(rng) for _ in range(count))]
