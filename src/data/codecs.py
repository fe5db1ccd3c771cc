"""How a labelling task reads raw text at predict time and writes its answer: a codec per kind
of input, named in LabellingSpec.codec.

    symbols: every character is an input symbol (hello: "hello" -> "ohlol")
    add, sub: "39 + 17" -> the operands' bit pairs, least significant first -> "39 + 17 = 56"

A codec also says what a network must keep track of from step to step to label the steps right, when
the data defines it (`probe`: the carry of a sum), so that src.inspect can look for the unit that does.
"""

from collections.abc import Callable
from dataclasses import dataclass

from src.data.binary import OPS, carries, decode, encode
from src.data.vocab import Vocab
from src.errors import UserError


@dataclass(frozen=True)
class StepProbe:
    """A quantity each input step determines (the carry out of a sum's step): src.inspect finds the hidden
    unit whose value after each step follows it best and draws it as `<name>.png`."""

    name: str  # "carry": carry.png, "the carry unit"
    legend: str  # what the true values are
    axis: str  # what the input symbols are
    values: Callable[[list[int]], list[int]]  # one item's input ids (no padding) -> the quantity after each step


class SymbolsCodec:
    def encode(self, text: str, inputs: Vocab) -> list[int]:
        outside = sorted({ch for ch in text if ch not in inputs.tokens})
        if not text or outside:
            raise UserError(f"{text!r} has {''.join(outside) or 'nothing'}; use only {''.join(inputs.tokens)}")
        return inputs.encode(text)

    def text_of(self, ids: list[int], inputs: Vocab) -> str:
        return "".join(inputs.decode(ids))

    def render(self, text: str, labels: list[str], truth: list[str] | None = None) -> str:
        return f"{text} -> {''.join(labels)}" + (f" (target {''.join(truth)})" if truth is not None else "")

    def probe(self, inputs: Vocab) -> StepProbe | None:
        return None


class SumCodec:
    """'a + b' (or 'a - b'), whole numbers; the model reads one more bit than the longer operand."""

    def __init__(self, op: str):
        self.op = op

    def operands(self, text: str) -> tuple[int, int]:
        left, sign, right = text.partition(OPS[self.op])
        if not sign or not left.strip().isdigit() or not right.strip().isdigit():
            raise UserError(
                f"{text!r} is not 'a {OPS[self.op]} b' with whole numbers a and b (e.g. 39 {OPS[self.op]} 17)"
            )
        a, b = int(left), int(right)
        if self.op == "sub" and a < b:
            raise UserError(f"{text!r}: the model subtracts a smaller number from a larger one; swap them")
        return a, b

    def encode(self, text: str, inputs: Vocab) -> list[int]:
        a, b = self.operands(text)
        bits = max(a.bit_length(), b.bit_length()) + 1
        return encode(a, b, self.op, bits)[0]

    def text_of(self, ids: list[int], inputs: Vocab) -> str:
        a, b = decode(ids)
        return f"{a} {OPS[self.op]} {b}"

    def render(self, text: str, labels: list[str], truth: list[str] | None = None) -> str:
        """The model's answer and whether it is right (the true sum is known: `truth` is not needed)."""
        a, b = self.operands(text)
        answer = sum(int(bit) << k for k, bit in enumerate(labels))
        right = a + b if self.op == "add" else a - b
        return f"{a} {OPS[self.op]} {b} = {answer} ({'right' if answer == right else f'wrong: {right}'})"

    def probe(self, inputs: Vocab) -> StepProbe:
        """The carry (add) or borrow (sub) out of each step: what the network must keep to get the next bit."""
        truth = lambda ids: carries(inputs.decode(ids), self.op)  # noqa: E731
        return StepProbe("carry", "true carry out of the step", "bit pair ab, least significant first", truth)


CODECS = {"symbols": SymbolsCodec(), "add": SumCodec("add"), "sub": SumCodec("sub")}
