"""Use a trained checkpoint: load it, hand the inputs and options to its task's `predict`, print.

    python -m src.predict ckpt=outputs/names input=Dostoevsky top_k=3          # the newest names run
    python -m src.predict ckpt=outputs/dinos num_samples=20 prefix=tyr
    python -m src.predict ckpt=outputs/translate input="i am cold ." beam_size=5
    python -m src.predict ckpt=outputs/binary input="39 + 17"
    python -m src.predict ckpt=outputs/latest.ckpt --help    # the run that finished last; its options

ckpt= is a .ckpt file, a run folder (its checkpoints/best.ckpt) or a folder of runs (the newest).

The checkpoint carries its vocabulary, labels and model config, so this works from any directory.
In Python: `from src import load; load(PATH).predict(["Dostoevsky"], top_k=3)`.
"""

import os
import sys
from pathlib import Path

from src.errors import EXIT_USER_ERROR, UserError

# the options of this command; every other key=value goes to the checkpoint's task
# what ckpt= may name (src.tasks.checkpoint.find_checkpoint)
CKPT_FORMS = (
    "ckpt=outputs/names (the newest run of a task with a checkpoint), a run folder, or a .ckpt file "
    "(outputs/latest.ckpt: the run that finished last)"
)
COMMON = {
    "ckpt": "a checkpoint written by src.train: a .ckpt file, a run folder (its best.ckpt), or a folder of runs "
    "such as outputs/names (the newest)",
    "input": "one input (a name, a sentence, '39 + 17', ...)",
    "input_file": "a UTF-8 file of inputs, one a line (name<TAB>label lines: the first column)",
    "expect_task": "fail unless the checkpoint is of this task (names, dinos, ...)",
    "threads": "torch CPU threads (default 1)",
    "device": "where the model runs: cpu (default), cuda, cuda:N or mps",
}
USAGE = "usage: python -m src.predict ckpt=PATH [input=TEXT | input_file=PATH] [option=value ...]"


def parse_args(argv: list[str]) -> tuple[dict[str, str], bool]:
    """key=value arguments (one pair of outer quotes removed, as a shell would) and whether help was asked."""
    args, wants_help = {}, False
    for arg in argv:
        if arg in ("-h", "--help"):
            wants_help = True
            continue
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise UserError(f"{arg!r} is not key=value; {USAGE}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key in args:
            raise UserError(f"{key}= is given twice; give it once")
        args[key] = value
    return args, wants_help


def read_inputs(args: dict[str, str]) -> list[tuple[str, str]] | None:
    """(where, text) pairs from input= or input_file= (where: 'input' or 'FILE:LINE'); None if neither."""
    if "input" in args and "input_file" in args:
        raise UserError("give one of input=TEXT or input_file=PATH (one input a line), not both")
    if "input" in args:  # a line break inside it would split one output line in two: one input a line
        lines = args["input"].splitlines() or [args["input"]]
        return [("input" if len(lines) == 1 else f"input line {i}", line) for i, line in enumerate(lines, 1)]
    if "input_file" not in args:
        return None
    from src.data.text_files import read_lines

    path = Path(args["input_file"]).expanduser()
    # a line `name<TAB>label` (the data files' own form) is read as its first column, the input
    lines = read_lines(path, "a UTF-8 text file, one input a line (a TAB ends it)")
    inputs = [(f"{path}:{i}", line.split("\t", 1)[0].strip()) for i, line in lines if line.split("\t", 1)[0].strip()]
    if not inputs:
        raise UserError(f"input_file {path} has no non-empty lines")
    return inputs


def predict(args: dict[str, str]) -> list[str]:
    """The output lines for the command-line arguments `args` (see COMMON)."""
    from src.tasks.checkpoint import checkpoint_task, find_checkpoint, load_module, parse_device, read_checkpoint

    if not args.get("ckpt"):
        raise UserError(f"say which checkpoint: {CKPT_FORMS}")
    device = parse_device(args.get("device", "cpu"))
    path = find_checkpoint(args["ckpt"])
    if path != Path(args["ckpt"]).expanduser():  # found in a folder: say which one
        print(f"checkpoint: {path}", file=sys.stderr)
    ckpt = read_checkpoint(path)
    task = checkpoint_task(ckpt)
    expected = args.get("expect_task")
    if expected and expected != task:
        raise UserError(f"{args['ckpt']} is a {task} checkpoint, not {expected}; pick a {expected} checkpoint")
    module = load_module(ckpt, device)
    options = {k: v for k, v in args.items() if k not in COMMON}
    return module.predict(read_inputs(args), **options)


def help_text(args: dict[str, str]) -> str:
    lines = [USAGE, "", "options of every checkpoint:"] + [f"  {k}=  {v}" for k, v in COMMON.items()]
    if args.get("ckpt"):
        from src.tasks.checkpoint import checkpoint_task, find_checkpoint, load_module, read_checkpoint

        ckpt = read_checkpoint(find_checkpoint(args["ckpt"]))
        options = load_module(ckpt).PREDICT_OPTIONS
        lines += ["", f"options of this {checkpoint_task(ckpt)} checkpoint:"]
        lines += [f"  {k}=  {o.help} (default {o.default})" for k, o in options.items()] or ["  none"]
    else:
        lines += ["", "give ckpt=PATH --help for the options of that checkpoint's task"]
    return "\n".join(lines)


def set_threads(args: dict[str, str]) -> None:
    """threads= (default 1): torch's CPU threads; torch is imported only now, after the arguments are read."""
    threads = args.get("threads", "1")
    if not threads.isdigit() or int(threads) < 1:
        raise UserError(f"threads={threads}; give a whole number of at least 1")
    import torch

    torch.set_num_threads(int(threads))


def main() -> None:
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): Python's print would drop every line
            raise UserError("standard output is closed: nothing to print the predictions to; redirect it (> out.txt)")
        args, wants_help = parse_args(sys.argv[1:])
        if wants_help:
            print(help_text(args))
            return
        set_threads(args)
        lines = predict(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `| head -1` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
