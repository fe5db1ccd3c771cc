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
from src.run.ckpt_args import CKPT_FORMS, parse_args, read_inputs, set_threads

# the options of this command; every other key=value goes to the checkpoint's task
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


def cli(argv: list[str] | None = None) -> int:
    """`python -m src.predict argv...`: the exit status."""
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): Python's print would drop every line
            raise UserError("standard output is closed: nothing to print the predictions to; redirect it (> out.txt)")
        args, wants_help = parse_args(sys.argv[1:] if argv is None else argv, USAGE)
        if wants_help:
            print(help_text(args))
            return 0
        set_threads(args)
        lines = predict(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `| head -1` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(cli())
