"""Compare runs side by side: `python -m src.compare DIR` (a sweep folder, or outputs/).

Prints a markdown table per task, one row per run (or per group of runs that differ only by
`seed` or `task.data.fold`, as mean +- std): task, model, overrides, parameters, epochs, seconds per epoch, training
seconds in all, best validation metric, test metrics. Saves it as DIR/compare.md, and DIR/compare.png with each run's
validation curve and its training time. A run folder without results.json is never dropped: it is
listed as failed (with the error line of its train.log, or what in the folder cannot be read) or as
incomplete (killed, stopped, still running).

A thin command over the compare table of the analysis layer (src/analysis/table.py).
"""

import argparse
import os
import sys
from pathlib import Path

from src.analysis.table import NotSaved, compare
from src.errors import UserError, exit_status


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m src.compare", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="a sweep folder, a run folder, or outputs/")
    parser.add_argument("--out", type=Path, help="where compare.md and compare.png go (default: DIR)")
    args = parser.parse_args(argv)
    if not args.dir.strip():  # Path("") would be the current folder
        raise UserError("give a folder of runs: python -m src.compare outputs/ (or a sweep folder)")
    try:
        report = compare(Path(args.dir), args.out)
    except NotSaved as err:
        show(err.report)
        raise
    show(report)
    show(f"\nsaved {(args.out or Path(args.dir)) / 'compare.md'} and compare.png")


def show(text: str) -> None:
    """Print `text`; a reader that left (`| head -1` closed the pipe) is not an error: what is left of
    the output goes to /dev/null, so neither this print nor the flush at exit ends in a traceback
    (Python's docs on SIGPIPE). The files were saved before."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cli(argv: list[str] | None = None) -> int:
    """main() with a UserError printed as one line: the exit status."""
    return exit_status(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(cli())
