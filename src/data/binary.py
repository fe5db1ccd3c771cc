"""Binary addition and subtraction, one bit a step, least significant first (course lesson 2).

Input symbol at step i: the operand bits (a_i, b_i) as one of four symbols "00", "01", "10", "11";
target: bit i of the result. Operands are drawn as the course does: to add, both below 2^(bits-1)
so the sum fits; to subtract, a below 2^bits and b below 2^(bits-1), swapped so a >= b. The
`test_long` set uses `test_bits`-bit operands: only a model that learned the carry rule gets it right.
"""

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from src.data.batching import IGNORE, PaddedSequences, batch_as_is, pad
from src.errors import UserError

OPS = {"add": "+", "sub": "-"}
PAIRS = ["00", "01", "10", "11"]  # input symbols; id = 1 + 2 * a_bit + b_bit (0 is padding)


def draw_operands(rng: np.random.Generator, op: str, bits: int, n: int) -> tuple[list[int], list[int]]:
    if op == "add":
        return rng.integers(0, 2 ** (bits - 1), n).tolist(), rng.integers(0, 2 ** (bits - 1), n).tolist()
    a, b = rng.integers(0, 2**bits, n).tolist(), rng.integers(0, 2 ** (bits - 1), n).tolist()
    return [max(x, y) for x, y in zip(a, b, strict=True)], [min(x, y) for x, y in zip(a, b, strict=True)]


def encode(a: int, b: int, op: str, bits: int) -> tuple[list[int], list[int]]:
    """(input ids, result bits), least significant bit first."""
    result = a + b if op == "add" else a - b
    inputs = [1 + 2 * ((a >> i) & 1) + ((b >> i) & 1) for i in range(bits)]
    return inputs, [(result >> i) & 1 for i in range(bits)]


def decode(ids: list[int]) -> tuple[int, int]:
    """Operands back from input ids (padding ignored)."""
    a = sum(((i - 1) >> 1) << k for k, i in enumerate(ids) if i)
    b = sum(((i - 1) & 1) << k for k, i in enumerate(ids) if i)
    return a, b


class BinaryDataModule(L.LightningDataModule):
    def __init__(
        self,
        op: str = "add",
        bits: int = 8,
        test_bits: int = 32,
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 1000,
        batch_size: int = 32,
        seed: int = 0,
    ):
        super().__init__()
        if op not in OPS:
            raise UserError(f"task.data.op={op} is unknown; use add or sub")
        if bits < 2:
            raise UserError(f"task.data.bits={bits}; give at least 2 bits")
        if test_bits < bits:
            raise UserError(
                f"task.data.test_bits={test_bits} is below bits={bits}; the long test needs at least as many"
            )
        self.op, self.bits, self.test_bits = op, bits, test_bits
        self.sizes = {"train": train_size, "val": val_size, "test": test_size, "test_long": test_size}
        self.batch_size, self.seed = batch_size, seed
        self.spec = {"inputs": PAIRS, "outputs": ["0", "1"], "test_sets": ["", "_long"]}
        self.datasets: dict[str, PaddedSequences] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rng = np.random.default_rng(self.seed)  # one generator, fixed order: the same sets every run
        for split, n in self.sizes.items():
            bits = self.test_bits if split == "test_long" else self.bits
            pairs = [encode(a, b, self.op, bits) for a, b in zip(*draw_operands(rng, self.op, bits, n), strict=True)]
            tokens, lengths = pad([p[0] for p in pairs])
            targets, _ = pad([p[1] for p in pairs], pad_id=IGNORE)
            self.datasets[split] = PaddedSequences(tokens, lengths, targets)

    def render(self, tokens: torch.Tensor, predicted: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """'39 + 17 = 56' per example, with the model's answer and whether it is right."""
        lines = []
        for ids, bits, n in zip(tokens.tolist(), predicted.tolist(), lengths.tolist(), strict=True):
            a, b = decode(ids[:n])
            answer = sum(bit << k for k, bit in enumerate(bits[:n]))
            truth = a + b if self.op == "add" else a - b
            lines.append(f"{a} {OPS[self.op]} {b} = {answer} ({'right' if answer == truth else f'wrong: {truth}'})")
        return lines

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.datasets[split], batch_size=self.batch_size, shuffle=shuffle, collate_fn=batch_as_is)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test"), self._loader("test_long")]
