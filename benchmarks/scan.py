"""minGRU and minLSTM: the parallel scan against the step loop, side by side in one run.

    python -m benchmarks.scan                                 # lengths 16, 128, 512 (~1 min)
    python -m benchmarks.scan lengths=16,128,512,2048 batch=64 hidden=256 rounds=5

For each cell and sequence length: one forward and backward pass of a one-layer `MinimalRNN`
(src/nn/minimal.py) over a batch of random inputs, with `scan=parallel` (log-space cumulative sums
over the whole sequence) and `scan=sequential` (a Python loop of one step per position), the same
weights, alternating for `rounds` rounds; the fastest of each is kept, since the machine's load
changes under us. Reports wall and CPU seconds, torch's thread count, and the speed-up (sequential
wall time / parallel wall time), as a table and one JSON object.
"""

import json
import time

import torch

from benchmarks.cli import choices, run, split_args, whole_number
from src.errors import UserError
from src.nn.minimal import PARTS, MinimalRNN

OPTIONS = {
    "cells": ",".join(PARTS),
    "lengths": "16,128,512",
    "batch": "32",
    "hidden": "128",
    "inputs": "64",
    "rounds": "3",
    "threads": "1",
}


def timed(module: MinimalRNN, x: torch.Tensor) -> tuple[float, float]:
    """Wall and CPU seconds of one forward and backward pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    out, h_n = module(x)
    (out.mean() + h_n.mean()).backward()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(cell: str, length: int, options: dict) -> dict:
    torch.manual_seed(0)
    parallel = MinimalRNN(cell, options["inputs"], options["hidden"])
    sequential = MinimalRNN(cell, options["inputs"], options["hidden"], scan="sequential")
    sequential.load_state_dict(parallel.state_dict())
    x = torch.randn(options["batch"], length, options["inputs"])
    best = {"parallel": (float("inf"), 0.0), "sequential": (float("inf"), 0.0)}
    for _ in range(options["rounds"]):
        for name, module in (("parallel", parallel), ("sequential", sequential)):
            best[name] = min(best[name], timed(module, x))
    (p_wall, p_cpu), (s_wall, s_cpu) = best["parallel"], best["sequential"]
    return {
        "cell": cell,
        "length": length,
        "parallel_wall_s": round(p_wall, 5),
        "parallel_cpu_s": round(p_cpu, 5),
        "sequential_wall_s": round(s_wall, 5),
        "sequential_cpu_s": round(s_cpu, 5),
        "speedup": round(s_wall / p_wall, 2),
    }


def main(argv: list[str]) -> None:
    raw, extra = split_args(argv, OPTIONS)
    if extra:
        raise UserError(f"{extra[0]} is not an option of benchmarks.scan; use {', '.join(f'{k}=' for k in OPTIONS)}")
    cells = choices("cells", raw["cells"], tuple(PARTS)).split(",")
    options = {k: whole_number(k, raw[k]) for k in ("batch", "hidden", "inputs", "rounds", "threads")}
    lengths = [whole_number("lengths", v) for v in raw["lengths"].split(",")]
    torch.set_num_threads(options["threads"])
    rows = [measure(cell, length, options) for cell in cells for length in lengths]
    print(
        f"torch threads {torch.get_num_threads()}, batch {options['batch']}, hidden {options['hidden']}, "
        f"inputs {options['inputs']}; forward + backward, fastest of {options['rounds']}"
    )
    print("| cell | length | parallel wall s | parallel cpu s | step loop wall s | step loop cpu s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['cell']} | {r['length']} | {r['parallel_wall_s']:.4f} | {r['parallel_cpu_s']:.4f} | "
            f"{r['sequential_wall_s']:.4f} | {r['sequential_cpu_s']:.4f} | {r['speedup']:.1f}x |"
        )
    print(json.dumps({"threads": torch.get_num_threads(), **options, "rows": rows}))


if __name__ == "__main__":
    run(main)
