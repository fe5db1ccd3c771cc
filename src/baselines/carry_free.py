"""Binary addition and subtraction without memory: each result bit is a_i XOR b_i.

That is the sum (or difference) with every carry (or borrow) dropped: the best any rule that sees
only the current pair of bits can do, since a_i XOR b_i is right exactly where no carry comes in.
Its scores tell what remembering the carry is worth. Metrics are the step labeller's:
{val,test}/<step>_acc (share of bits right) and {val,test}/seq_acc (share of whole numbers right),
with the `_long` suffix on the test set of wider operands.
"""

import numpy as np
from omegaconf import DictConfig

from src.baselines import Outcome, prepared_datamodule
from src.data.binary import OPS, draw_operands, encode

TASKS = ("binary",)


def read_splits(data: DictConfig) -> dict[str, tuple[list[int], list[int], int]]:
    """Split -> (a operands, b operands, bits), drawn as BinaryDataModule.setup draws them: one
    Generator(seed) for train, val, test and test_long, in that order."""
    prepared_datamodule(data)  # rejects an unknown op or too few bits as a training run would
    rng = np.random.default_rng(data.seed)
    sizes = {"train": data.train_size, "val": data.val_size, "test": data.test_size, "test_long": data.test_size}
    splits = {}
    for split, n in sizes.items():
        bits = data.test_bits if split == "test_long" else data.bits
        splits[split] = (*draw_operands(rng, data.op, bits, n), bits)
    return splits


def xor_bits(a: int, b: int, bits: int) -> list[int]:
    """a XOR b, least significant bit first."""
    return [((a ^ b) >> i) & 1 for i in range(bits)]


def scores(a: list[int], b: list[int], bits: int, op: str, prefix: str, step_name: str) -> dict[str, float]:
    right = np.array(
        [
            [p == t for p, t in zip(xor_bits(x, y, bits), encode(x, y, op, bits)[1], strict=True)]
            for x, y in zip(a, b, strict=True)
        ]
    )
    return {f"{prefix}/{step_name}_acc": float(right.mean()), f"{prefix}/seq_acc": float(right.all(axis=1).mean())}


def rows(a: list[int], b: list[int], bits: int, op: str, suffix: str, step_name: str) -> list[dict]:
    """The step labeller's test rows: bits least significant first, as the recurrent runs write them."""
    out = []
    for x, y in zip(a, b, strict=True):
        guess, truth = xor_bits(x, y, bits), encode(x, y, op, bits)[1]
        share = sum(g == t for g, t in zip(guess, truth, strict=True)) / bits
        out.append(
            {
                "set": suffix,
                "input": f"{x} {OPS[op]} {y}",
                "target": "".join(map(str, truth)),
                "prediction": "".join(map(str, guess)),
                "length": bits,
                f"{step_name}_acc": share,
                f"{step_name}_acc_weight": bits,
                "seq_acc": float(share == 1.0),
            }
        )
    return out


def evaluate(cfg: DictConfig) -> Outcome:
    data, step_name = cfg.task.data, cfg.task.module.step_name
    splits = read_splits(data)
    test, test_rows = {}, []
    for split, suffix in (("test", ""), ("test_long", "_long")):
        test |= {f"{k}{suffix}": v for k, v in scores(*splits[split], data.op, "test", step_name).items()}
        test_rows += rows(*splits[split], data.op, suffix, step_name)
    a, b, bits = splits["test"]
    sign = "+" if data.op == "add" else "-"
    examples = []
    for x, y in zip(a[:8], b[:8], strict=True):
        answer, truth = x ^ y, encode(x, y, data.op, bits)[1]
        truth = sum(bit << k for k, bit in enumerate(truth))
        examples.append(f"{x} {sign} {y} = {answer} ({'right' if answer == truth else f'wrong: {truth}'})")
    return Outcome(
        val=scores(*splits["val"], data.op, "val", step_name), test=test, params=0, examples=examples, rows=test_rows
    )
