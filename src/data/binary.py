"""Binary addition and subtraction, one bit a step, least significant first (course lesson 2).

Input symbol at step i: the operand bits (a_i, b_i) as one of four symbols "00", "01", "10", "11";
target: bit i of the result. Operands are drawn as the course does: to add, both below 2^(bits-1)
so the sum fits; to subtract, a below 2^bits and b below 2^(bits-1), swapped so a >= b. The
`test_long` set uses `test_bits`-bit operands: only a model that learned the carry rule gets it right.
Each of `length_bits` adds a test set of that width (suffix `_<n>bit`: test/seq_acc_64bit), drawn after
the others so they stay as they were: accuracy against operand length.
"""

import numpy as np

from src.data.batching import IGNORE, PaddedSequences, pad
from src.data.specs import LabellingSpec
from src.data.splits import SplitsDataModule
from src.data.vocab import PAD, Vocab
from src.errors import UserError

OPS = {"add": "+", "sub": "-"}
INPUTS = Vocab(["00", "01", "10", "11"], specials=[PAD])  # the bit pair "ab"; padding is id 0
OUTPUTS = Vocab(["0", "1"])  # the result bit is the class id


def draw_below(rng: np.random.Generator, width: int, n: int) -> list[int]:
    """n integers uniform in [0, 2^width): numpy's integers up to 62 bits, 32-bit pieces beyond (128-bit sums)."""
    if width <= 62:
        return rng.integers(0, 2**width, n).tolist()
    pieces = rng.integers(0, 2**32, (n, -(-width // 32))).tolist()  # (n, pieces)
    return [sum(p << (32 * k) for k, p in enumerate(row)) & ((1 << width) - 1) for row in pieces]


def draw_operands(rng: np.random.Generator, op: str, bits: int, n: int) -> tuple[list[int], list[int]]:
    if op == "add":
        return draw_below(rng, bits - 1, n), draw_below(rng, bits - 1, n)
    a, b = draw_below(rng, bits, n), draw_below(rng, bits - 1, n)
    return [max(x, y) for x, y in zip(a, b, strict=True)], [min(x, y) for x, y in zip(a, b, strict=True)]


def encode(a: int, b: int, op: str, bits: int) -> tuple[list[int], list[int]]:
    """(input ids, result bits), least significant bit first."""
    result = a + b if op == "add" else a - b
    inputs = INPUTS.encode(f"{(a >> i) & 1}{(b >> i) & 1}" for i in range(bits))
    return inputs, [(result >> i) & 1 for i in range(bits)]


def decode(ids: list[int]) -> tuple[int, int]:
    """Operands back from input ids (padding left out)."""
    pairs = INPUTS.decode(ids)
    return sum(int(p[0]) << k for k, p in enumerate(pairs)), sum(int(p[1]) << k for k, p in enumerate(pairs))


def carries(pairs: list[str], op: str) -> list[int]:
    """The carry (add) or borrow (sub) out of each step, from its bit pairs "ab", least significant first."""
    out, carry = [], 0
    for pair in pairs:
        a, b = int(pair[0]), int(pair[1])
        carry = int(a + b + carry >= 2) if op == "add" else int(a - b - carry < 0)
        out.append(carry)
    return out


class BinaryDataModule(SplitsDataModule):
    def __init__(
        self,
        op: str,
        bits: int,
        test_bits: int,
        train_size: int,
        val_size: int,
        test_size: int,
        batch_size: int,
        seed: int,
        length_bits: list[int],
    ):
        super().__init__(batch_size)
        if op not in OPS:
            raise UserError(f"task.data.op={op} is unknown; use add or sub")
        if bits < 2:
            raise UserError(f"task.data.bits={bits}; give at least 2 bits")
        if test_bits < bits:
            raise UserError(
                f"task.data.test_bits={test_bits} is below bits={bits}; the long test needs at least as many"
            )
        self.op, self.bits, self.test_bits, self.seed = op, bits, test_bits, seed
        if any(n < 2 for n in length_bits):
            raise UserError(f"task.data.length_bits={list(length_bits)}; give widths of at least 2 bits")
        self.widths = {"test_long": test_bits} | {f"test_{n}bit": n for n in length_bits}
        self.sizes = {"train": train_size, "val": val_size, "test": test_size} | dict.fromkeys(self.widths, test_size)
        test_sets = ("", "_long", *(f"_{n}bit" for n in length_bits))
        self.spec = LabellingSpec(inputs=INPUTS, outputs=OUTPUTS, codec=op, test_sets=test_sets)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rng = np.random.default_rng(self.seed)  # one generator, fixed order: the same sets every run
        for split, n in self.sizes.items():
            bits = self.widths.get(split, self.bits)
            pairs = [encode(a, b, self.op, bits) for a, b in zip(*draw_operands(rng, self.op, bits, n), strict=True)]
            tokens, lengths = pad([p[0] for p in pairs], INPUTS.id(PAD))
            targets, _ = pad([p[1] for p in pairs], IGNORE)
            self.datasets[split] = PaddedSequences(tokens, lengths, targets)
