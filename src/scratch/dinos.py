"""The course's dinosaur-name generator: a NumPy tanh SRN, one name a step (lesson 5).

Symbols: id 0 is the end of a name (newline), 1-26 are a-z. Input: a zero vector, then the letters;
target: the letters, then the end. Hidden 50, weights randn * 0.01, SGD lr 0.01, gradients clipped
to [-5, 5], 35000 steps; the loss is smoothed as 0.999 * loss + 0.001 * new, as the lesson prints it.
"""

import math

import numpy as np

from src.data.dinos import VOCAB as SYMBOLS
from src.data.vocab import END
from src.scratch.srn import SRN, clip_, sample

END_ID = SYMBOLS.id(END)  # 0, the newline of the lesson
VOCAB = len(SYMBOLS)  # 27


def encode(word: str) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (T+1, VOCAB) one-hot with a zero first row, targets (T+1,) ids ending with END_ID)."""
    ids = SYMBOLS.encode(word)
    xs = np.zeros((len(ids) + 1, VOCAB))
    xs[np.arange(1, len(ids) + 1), ids] = 1.0
    return xs, np.array(ids + [END_ID])


def decode(ids: list[int]) -> str:
    return "".join(SYMBOLS.decode(ids))


def nll_per_symbol(model: SRN, words: list[str]) -> float:
    """Mean negative log-likelihood in nats per predicted symbol, end of name included."""
    total, count = 0.0, 0
    for word in words:
        xs, targets = encode(word)
        _, ys = model.forward(xs)
        total += model.loss(ys, targets)
        count += len(targets)
    return total / count


def train(
    train_words: list[str],
    hidden: int = 50,
    steps: int = 35000,
    lr: float = 0.01,
    clip: float = 5.0,
    seed: int = 0,
    report_every: int = 2000,
    samples: int = 5,
    log=print,
) -> SRN:
    rng = np.random.default_rng(seed)
    model = SRN.random(VOCAB, hidden, VOCAB, rng, scale=0.01, state="tanh", output="softmax")
    order = rng.permutation(len(train_words))
    smooth = -math.log(1.0 / VOCAB) * 7  # the lesson starts the smoothed loss at a 7-letter uniform guess
    for step in range(1, steps + 1):
        xs, targets = encode(train_words[order[step % len(order)]])
        hs, ys = model.forward(xs)
        smooth = 0.999 * smooth + 0.001 * model.loss(ys, targets)
        model.sgd_step(clip_(model.backward(xs, hs, ys, targets), clip), lr)
        if step % report_every == 0:
            names = [decode(sample(model, rng, END_ID, max_length=50)) for _ in range(samples)]
            log(f"step {step:>6}  smoothed loss {smooth:7.3f}  samples: {', '.join(names)}")
    return model
