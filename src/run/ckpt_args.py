"""The key=value command line of the commands that read a checkpoint (src.predict, src.inspect):
`parse_args`, the inputs of input= or input_file= (`read_inputs`), torch's threads (`set_threads`),
and what ckpt= may name (`CKPT_FORMS`).
"""

from pathlib import Path

from src.errors import UserError

# what ckpt= may name (src.tasks.checkpoint.find_checkpoint)
CKPT_FORMS = (
    "ckpt=outputs/names (the newest run of a task with a checkpoint), a run folder, or a .ckpt file "
    "(outputs/latest.ckpt: the run that finished last)"
)


def parse_args(argv: list[str], usage: str) -> tuple[dict[str, str], bool]:
    """key=value arguments (one pair of outer quotes removed, as a shell would) and whether help was
    asked; `usage` is the command's usage line, for the error of an argument that is not key=value."""
    args, wants_help = {}, False
    for arg in argv:
        if arg in ("-h", "--help"):
            wants_help = True
            continue
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise UserError(f"{arg!r} is not key=value; {usage}")
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


def set_threads(args: dict[str, str]) -> None:
    """threads= (default 1): torch's CPU threads; torch is imported only now, after the arguments are read."""
    threads = args.get("threads", "1")
    if not threads.isdigit() or int(threads) < 1:
        raise UserError(f"threads={threads}; give a whole number of at least 1")
    import torch

    torch.set_num_threads(int(threads))
