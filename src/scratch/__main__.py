"""The course's lessons in NumPy:

python -m src.scratch srn
python -m src.scratch binary [op=add|sub] [bits=8] [steps=10000] [hidden=16] [lr=...] [seed=0]
python -m src.scratch dinos [steps=35000] [hidden=50] [lr=0.01] [seed=0] [data_dir=...]
"""

import sys

import numpy as np

from src.errors import EXIT_USER_ERROR, UserError
from src.paths import default_data_dir
from src.scratch import binary
from src.scratch.srn import SRN

COURSE_INPUTS = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
OPTIONS = {
    "srn": {},
    "binary": {"op": str, "bits": int, "steps": int, "hidden": int, "lr": float, "seed": int},
    "dinos": {"steps": int, "hidden": int, "lr": float, "seed": int, "data_dir": str},
}
# the values each number may take, and what to say otherwise (bits: operands are drawn as int64)
LIMITS = {
    "bits": (lambda v: v <= 62, "give 2 to 62"),  # below 2: binary.train says so
    "steps": (lambda v: 1 <= v <= 10_000_000, "give 1 to 10,000,000"),
    "hidden": (lambda v: 1 <= v <= 4096, "give 1 to 4096"),  # numpy, one example at a time
    "lr": (lambda v: 0 < v < float("inf"), "give a number above 0, e.g. 0.1"),
    "seed": (lambda v: v >= 0, "give 0 or more"),
}


def parse(argv: list[str]) -> tuple[str, dict]:
    if not argv or argv[0] not in OPTIONS:
        raise UserError(f"say which lesson: python -m src.scratch {'|'.join(OPTIONS)} [key=value ...]")
    command, options = argv[0], {}
    for arg in argv[1:]:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPTIONS[command]:
            known = ", ".join(OPTIONS[command]) or "none"
            raise UserError(f"{arg!r} is not an option of '{command}'; options: {known} (as key=value)")
        try:
            options[key] = OPTIONS[command][key](value)
        except ValueError as err:
            raise UserError(f"{key}={value} is not a {OPTIONS[command][key].__name__}") from err
        good, wanted = LIMITS.get(key, (lambda v: True, ""))
        if not good(options[key]):
            raise UserError(f"{key}={value}: {wanted}")
    return command, options


def srn_table() -> None:
    """The course's hand-computed SRN beside torch's RNNCell loop and RNN, both activations."""
    import torch

    for state in ("identity", "tanh"):
        hs, ys = SRN.ones(2, 2, 2, state).forward(COURSE_INPUTS)
        cell_ys, rnn_ys = _torch_outputs(torch, state)
        print(f"\nSRN, input 2 / hidden 2 / output 2, weights 1, biases 0, state activation: {state}")
        print(
            f"{'t':>2}  {'input':>10}  {'state (NumPy)':>20}  {'output (NumPy)':>20}"
            f"  {'RNNCell loop':>20}  {'nn.RNN':>20}"
        )
        for t, x in enumerate(COURSE_INPUTS):
            print(
                f"{t + 1:>2}  {str(x.tolist()):>10}  {float(hs[t + 1][0])!r:>20}  {float(ys[t][0])!r:>20}  "
                f"{cell_ys[t]!r:>20}  {rnn_ys[t]!r:>20}"
            )


def _torch_outputs(torch, state: str) -> tuple[list[float], list[float]]:
    """Output component 0 at each step from RNNCell stepped in a loop and from RNN, weights set to the course's."""
    nonlinearity = "tanh" if state == "tanh" else "relu"  # identity: every state here is positive, relu = identity
    cell = torch.nn.RNNCell(2, 2, nonlinearity=nonlinearity).double()
    rnn = torch.nn.RNN(2, 2, nonlinearity=nonlinearity).double()
    head = torch.nn.Linear(2, 2).double()
    with torch.no_grad():
        for module in (cell, rnn, head):
            for name, p in module.named_parameters():
                p.fill_(1.0 if "weight" in name else 0.0)
        x = torch.tensor(COURSE_INPUTS)
        h, cell_out = torch.zeros(1, 2, dtype=torch.double), []
        for t in range(len(x)):
            h = cell(x[t : t + 1], h)
            cell_out.append(float(head(h)[0, 0]))
        outputs, _ = rnn(x.unsqueeze(1))  # (T, 1, 2)
        rnn_out = head(outputs)[:, 0, 0].tolist()
    return cell_out, rnn_out


def dinosaurs(data_dir: str | None = None, **options) -> float:
    """Train on the anchor split's training names; print samples, then the test NLL per symbol."""
    # here, not at the top: the dinos data module imports Lightning (~5 s), which help and srn/binary never need
    from src.data.dinos import find_words_file, read_words, split_words
    from src.scratch import dinos

    path = find_words_file(data_dir or default_data_dir())
    words, _ = read_words(path)
    train_words, _, test_words = split_words(words)
    print(f"{path}: {len(words)} names; training on {len(train_words)}, testing on {len(test_words)} (seed 0)")
    model = dinos.train(train_words, **options)
    nll = dinos.nll_per_symbol(model, test_words)
    print(f"test NLL {nll:.3f} nats per symbol (end of name included), {nll / np.log(2):.3f} bits")
    return nll


def main(argv: list[str]) -> None:
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        return
    command, options = parse(argv)
    if command == "srn":
        srn_table()
        return
    if command == "dinos":
        dinosaurs(**options)
        return
    op, bits = options.get("op", "add"), options.get("bits", 8)
    try:
        model = binary.train(**options)
    except ValueError as err:
        raise UserError(str(err)) from err
    print(f"all bits right on {binary.accuracy(model, op, bits, n=1000, seed=1):.1%} of 1000 fresh {bits}-bit problems")


def cli(argv: list[str] | None = None) -> int:
    """`python -m src.scratch argv...`: the exit status."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(cli())
