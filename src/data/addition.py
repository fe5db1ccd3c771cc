"""Binary addition as a length-generalisation test, in the format of Delétang et al. (2023), "Neural
Networks and the Chomsky Hierarchy": the two operands one after the other, least significant bit
first, then the sum as the output sequence.

    source  a_0 a_1 ... a_{n-1} + b_0 b_1 ... b_{n-1}      (n-bit operands, little-endian)
    target  s_0 s_1 ... s_n                                (the n+1 bits of a + b)

Training and validation draw the operand width uniformly from 1 to `train_bits` (default 40); the
test set `test` from the same range, and each width of `length_bits` its own test set
(`test/exact_64bit`, ...) beyond it: accuracy against length, on lengths never trained on. Unlike the
aligned-bit `binary` task (a regular language read one bit pair a step, which a finite-state
carry solves at any length), the model must line up bit i of the first operand with bit i of the
second across the whole first operand, and keep doing so past the longest training length.
"""

import numpy as np

from src.data.batching import PairedSequences
from src.data.binary import draw_below
from src.data.specs import Seq2SeqSpec
from src.data.splits import SplitsDataModule
from src.data.vocab import END, PAD, START, Vocab
from src.errors import UserError

SOURCE = Vocab(["0", "1", "+"], specials=[PAD, START, END])
TARGET = Vocab(["0", "1"], specials=[PAD, START, END])  # the same special ids as SOURCE


def bits(value: int, width: int) -> str:
    """`width` bits of value, least significant first."""
    return "".join(str((value >> i) & 1) for i in range(width))


def example(a: int, b: int, width: int) -> tuple[str, str]:
    """(source, target) text of a + b with `width`-bit operands."""
    return f"{bits(a, width)}+{bits(b, width)}", bits(a + b, width + 1)


class AdditionDataModule(SplitsDataModule):
    def __init__(
        self,
        train_bits: int,
        length_bits: list[int],
        train_size: int,
        val_size: int,
        test_size: int,
        batch_size: int,
        eval_batch_size: int,
        bucketing: bool,
        seed: int,
    ):
        super().__init__(batch_size, eval_batch_size, bucketing=bucketing)
        length_bits = list(length_bits)
        if any(n <= train_bits for n in length_bits) or len(set(length_bits)) != len(length_bits):
            raise UserError(
                f"task.data.length_bits={length_bits}: give distinct widths above train_bits={train_bits}, "
                "lengths the model never trained on"
            )
        self.train_bits, self.seed = train_bits, seed
        self.widths = {f"test_{n}bit": n for n in length_bits}
        self.sizes = {"train": train_size, "val": val_size, "test": test_size} | dict.fromkeys(self.widths, test_size)
        self.spec = Seq2SeqSpec(
            source=SOURCE,
            target=TARGET,
            joiner="",
            normalize="strip",
            probes=[example(5, 3, 4)[0], example(1000, 999, 10)[0]],
            test_sets=("", *(f"_{n}bit" for n in length_bits)),
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rng = np.random.default_rng(self.seed)  # one generator, fixed order: the same sets every run
        for split, n in self.sizes.items():
            if split in self.widths:
                widths = [self.widths[split]] * n
            else:
                widths = rng.integers(1, self.train_bits + 1, n).tolist()
            pairs = [example(draw_below(rng, w, 1)[0], draw_below(rng, w, 1)[0], w) for w in widths]
            self.datasets[split] = PairedSequences(
                [SOURCE.encode(s) for s, _ in pairs],
                [TARGET.encode(t) for _, t in pairs],
                SOURCE.id(PAD),
                SOURCE.id(START),
                SOURCE.id(END),
            )
