"""The course's binary lesson: an SRN learns to add or subtract 8-bit numbers one bit at a time,
least significant bit first; the carry (or borrow) has to live in its hidden state."""

import numpy as np

from src.scratch.srn import SRN

OPS = ("add", "sub")


def to_bits(n: int, bits: int) -> np.ndarray:
    """Least significant bit first."""
    return np.array([(n >> i) & 1 for i in range(bits)], dtype=float)


def from_bits(bits: np.ndarray) -> int:
    return int(sum(int(round(b)) << i for i, b in enumerate(bits)))


def draw(rng: np.random.Generator, op: str, bits: int) -> tuple[int, int, int]:
    """Operands as the course draws them: add, both below 2^(bits-1) so the sum fits; sub, a below
    2^bits and b below 2^(bits-1), swapped so that a >= b."""
    if op == "add":
        a, b = (int(v) for v in rng.integers(0, 2 ** (bits - 1), size=2))
        return a, b, a + b
    a, b = int(rng.integers(0, 2**bits)), int(rng.integers(0, 2 ** (bits - 1)))
    a, b = max(a, b), min(a, b)
    return a, b, a - b


def train(
    op: str = "add",
    bits: int = 8,
    hidden: int = 16,
    steps: int = 10000,
    lr: float | None = None,
    seed: int = 0,
    report_every: int = 1000,
    log=print,
) -> SRN:
    """One example a step, SGD on squared error, as the lesson (lr 0.1 to add, 0.9 to subtract)."""
    if op not in OPS:
        raise ValueError(f"op={op} is unknown; use add or sub")
    if bits < 2:
        raise ValueError(f"bits={bits}; give at least 2")
    lr = lr if lr is not None else {"add": 0.1, "sub": 0.9}[op]
    rng = np.random.default_rng(seed)
    # the course's initialisation: uniform in [-1, 1)
    model = SRN(
        2 * rng.random((hidden, 2)) - 1,
        2 * rng.random((hidden, hidden)) - 1,
        2 * rng.random((1, hidden)) - 1,
        np.zeros(hidden),
        np.zeros(1),
        state="sigmoid",
        output="sigmoid",
    )
    sign = "+" if op == "add" else "-"
    for step in range(1, steps + 1):
        a, b, result = draw(rng, op, bits)
        xs = np.stack([to_bits(a, bits), to_bits(b, bits)], axis=1)  # (T, 2)
        targets = to_bits(result, bits)[:, None]  # (T, 1)
        hs, ys = model.forward(xs)
        model.sgd_step(model.backward(xs, hs, ys, targets), lr)
        if step % report_every == 0:
            guess = from_bits(ys[:, 0])
            error = float(np.abs(ys - targets).sum())
            verdict = "right" if guess == result else "wrong"
            log(f"step {step:>6}  error {error:6.3f}  {a} {sign} {b} = {guess}  ({verdict})")
    return model


def accuracy(model: SRN, op: str, bits: int, n: int, seed: int) -> float:
    """Share of n fresh problems whose every bit is right."""
    rng = np.random.default_rng(seed)
    right = 0
    for _ in range(n):
        a, b, result = draw(rng, op, bits)
        _, ys = model.forward(np.stack([to_bits(a, bits), to_bits(b, bits)], axis=1))
        right += from_bits(ys[:, 0]) == result
    return right / n
