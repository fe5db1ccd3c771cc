"""Help and option errors answer before Lightning and torch are imported (`import lightning` alone
takes seconds): each command runs in a fresh interpreter that reports, after the entry point ends,
whether either was imported. Which modules were imported, not how long it took: no timed tests."""

import subprocess
import sys

import pytest

# run `python -m <module> <args>` in this interpreter, then print what it imported on the last line
PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exit_:
    code = exit_.code or 0
else:
    code = 0
print("imported:", *sorted(m for m in ("lightning", "torch") if m in sys.modules), flush=True)
sys.exit(code)
"""


def run_probe(module: str, *args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, module, *args], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "module, args, code, shown",
    [
        ("src.train", ["--help"], 0, "task: addition, binary, dinos, hello, namegen, names, pairs, translate"),
        ("src.train", ["task=nope"], 2, "error: task=nope is not a choice"),
        ("src.train", ["foo=1"], 2, "error: foo=1: foo is not an option of this config"),
        ("src.train", ["model.hidden_size=0"], 2, "error: model.hidden_size=0 cannot be used"),
        ("src.fair_cells", ["--help"], 0, "A fair comparison of the cells"),
        ("src.predict", ["--help"], 0, "ckpt="),
        ("src.scratch", ["--help"], 0, "srn"),
    ],
)
def test_help_and_option_errors_answer_without_lightning(module, args, code, shown):
    status, out, err = run_probe(module, *args)
    assert status == code, err
    assert shown in out + err
    assert out.rstrip().splitlines()[-1] == "imported:", f"{module} {' '.join(args)} imported Lightning or torch"
