"""The speed benchmark runs end to end on synthetic data and ends with its JSON line."""

import json
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import speed
from src.errors import UserError


def test_speed_benchmark_prints_ratios_and_raw_timings(data_dir: Path, capsys):
    argv = [
        f"paths.data_dir={data_dir}",
        "tasks=names,pairs,translate",
        "cells=gru",
        "batches=3",
        "rounds=1",
        "model.hidden_size=8",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
    ]
    result = speed.main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == result
    assert [(r["task"], r["model"]) for r in result["rows"]] == [
        ("names", "gru"),
        ("pairs", "gru"),
        ("translate", "gru"),
    ]
    for row in result["rows"]:
        for key in ("lightning_vs_bare", "bare_epoch_wall_s", "lightning_epoch_wall_s", "symbols_per_s", "peak_rss_mb"):
            assert row[key] > 0, (row["task"], key)
        assert row["batches_timed"] == min(3, row["batches_per_epoch"])
        assert 0 < row["fraction_of_peak"] < 1 and row["epoch_gflop"] > 0
        assert row["achieved_gflops"] == pytest.approx(
            row["fraction_of_peak"] * result["matmul_peak_gflops"], abs=1e-4 * result["matmul_peak_gflops"] + 1e-3
        )
    assert [r["bucketing"] for r in result["rows"]] == [True, None, True]  # pairs has no such option
    assert all(0 <= r["padding_share"] < 1 for r in result["rows"]) and result["rows"][0]["padding_share"] > 0
    assert result["rows"][1]["batches_per_epoch"] == 25  # the six course pairs: one batch, 25 passes an epoch
    assert result["worst_lightning_vs_bare"]["lightning_vs_bare"] == max(r["lightning_vs_bare"] for r in result["rows"])
    course = result["course"]
    assert course["speedup_vs_per_example"] > 0 and course["per_example_sample"] == course["train_names"]
    assert any(line.startswith("| names | gru |") for line in out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tasks=names,foo"], "tasks=names,foo: foo is not one of names, dinos"),
        (["cells="], "cells=: empty is not one of rnn, lstm, gru, mingru, minlstm, transformer"),
        (["batches=0"], "batches=0; give a whole number of at least 1"),
        (["rounds=x"], "rounds=x; give a whole number"),
    ],
)
def test_bad_benchmark_options_are_clear(argv, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        speed.main(argv)


def test_quality_table_runs_the_sweeps_and_aggregates_seeds(tmp_path: Path, capsys):
    from benchmarks import quality

    argv = ["tasks=hello", "cells=rnn,gru", "seeds=1,2", "jobs=2", f"out={tmp_path}", "trainer.max_epochs=2"]
    out = quality.main(argv)
    report = (out / "quality.md").read_text()
    assert report.startswith("Measured ") and "cores" in report and "### hello" in report
    table = report.split("\n#### ")[0]  # the table; the statistics follow it
    rows = [line for line in table.splitlines() if line.startswith(("| rnn |", "| gru |"))]
    assert len(rows) == 2 and all(line.split(" | ")[1] == "2" for line in rows)  # two seeds a row
    assert all("±" in line for line in rows)
    assert len(list(tmp_path.rglob("results.json"))) == 4


def test_quality_bad_options_are_clear():
    from benchmarks import quality

    with pytest.raises(UserError, match="tasks=names,foo: foo is not one of"):
        quality.main(["tasks=names,foo"])
    with pytest.raises(UserError, match="jobs=0; give a whole number"):
        quality.main(["jobs=0"])
    with pytest.raises(UserError, match="seeds=a; give whole numbers"):
        quality.main(["seeds=a"])


def test_scaling_times_data_sizes_and_widths_and_draws_them(data_dir: Path, tmp_path: Path, capsys):
    from benchmarks import scaling

    # log_every_n_steps=1: the synthetic words are fewer batches than dinos' interval of 10
    argv = [f"paths.data_dir={data_dir}", "tasks=dinos", f"out={tmp_path / 's.png'}", "task.data.batch_size=16"]
    argv.append("trainer.log_every_n_steps=1")
    result = scaling.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    dinos = result["tasks"]["dinos"]
    sizes = [p["sequences"] for p in dinos["data"]]
    assert sizes == [sizes[2] // 4, sizes[2] // 2, sizes[2], 4 * sizes[2]]  # 25%, 50%, 100%, 4x
    assert [p["hidden_size"] for p in dinos["width"]] == [64, 128, 256, 512]
    assert all(p["epoch_s"] > 0 for p in dinos["data"] + dinos["width"])
    assert dinos["data"][3]["epoch_s"] > dinos["data"][0]["epoch_s"]  # 16x the data cannot be faster
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_scaling_fit_line_recovers_a_line():
    from benchmarks.scaling import fit_line

    a, b, r2 = fit_line([1, 2, 3, 4], [3, 5, 7, 9])
    assert (round(a, 6), round(b, 6), round(r2, 6)) == (1.0, 2.0, 1.0)


@pytest.mark.parametrize(
    ("entry", "argv", "message"),
    [
        ("scaling", ["tasks=pairs"], "tasks=pairs: pairs is not one of names, dinos"),
        ("scaling", ["model.hidden_size=8"], "sets task= and model.hidden_size= itself"),
        ("scaling", ["out=/no/such/dir/s.png"], "folder /no/such/dir does not exist"),
        ("speed", ["model=lstm"], "sets task= and model= itself; pick them with tasks="),
    ],
)
def test_scaling_and_speed_refuse_what_they_set_themselves(entry, argv, message):
    import importlib

    with pytest.raises(UserError, match=message):
        importlib.import_module(f"benchmarks.{entry}").main(argv)


@pytest.mark.parametrize(
    ("entry", "argv", "message"),
    [
        ("quality", ["tasks=hello", "foo"], "Error parsing override 'foo' (task=hello); train overrides are key=value"),
        ("quality", ["tasks=hello", "trainer=nope"], "Could not find 'trainer/nope'"),
        ("speed", ["tasks=hello", "foo"], "Error parsing override 'foo'"),
        ("scaling", ["out="], "out= is empty; give the plot's path"),
    ],
)
def test_bad_overrides_and_empty_paths_are_one_line_before_any_run(
    entry, argv, message, monkeypatch, capsys, tmp_path, one_clear_line
):
    import importlib
    import sys

    from benchmarks.cli import run

    monkeypatch.chdir(tmp_path)  # quality would write its default outputs/quality/... here
    monkeypatch.setattr(sys, "argv", [entry, *argv])
    with pytest.raises(SystemExit) as exit_:
        run(importlib.import_module(f"benchmarks.{entry}").main)
    one_clear_line(exit_.value.code, capsys.readouterr().err, message)
    assert not (tmp_path / "outputs").exists()  # nothing started, nothing written


def test_the_benchmarks_cover_every_task_config_and_cell():
    from benchmarks.cli import CELLS, TASKS
    from src.paths import CONF_DIR

    assert sorted(TASKS) == sorted(p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml"))
    assert TASKS[:6] == ("names", "dinos", "pairs", "translate", "binary", "hello")  # the course's order first
    assert sorted(CELLS) == sorted(p.stem for p in (Path(CONF_DIR) / "model").glob("*.yaml"))


def test_gpu_check_runs_every_step_on_the_cpu_and_reports_a_failure(data_dir: Path, capsys, monkeypatch):
    """The GPU check as the suite can run it (trainer=cpu): fit, test, predict and inspect per task x
    cell x precision, the epoch timing, and a failing step reported as such (exit status 1)."""
    from benchmarks import gpu_check

    argv = [
        f"paths.data_dir={data_dir}",
        "trainer=cpu",
        "tasks=names",
        "cells=lstm",
        "precisions=32-true,bf16-mixed",
        "batches=2",
        "timing_batches=1",
        "model.hidden_size=8",
    ]
    result = gpu_check.main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == json.loads(json.dumps(result, default=str))
    assert result["failed"] == 0 and result["device"] == "cpu"
    assert [(c["task"], c["precision"]) for c in result["checks"]] == [("names", "32-true"), ("names", "bf16-mixed")]
    assert all(c["ok"] and c["figures"] >= 3 and c["predicted"] and c["test"] for c in result["checks"])
    assert [t["task"] for t in result["timing"]] == ["names"] and all(t["cpu_s"] > 0 for t in result["timing"])
    assert "2 of 2 checks passed" in "\n".join(out)

    import src.inspect

    def broken(args):
        raise RuntimeError("Expected all tensors to be on the same device\nmore")

    monkeypatch.setattr(src.inspect, "inspect", broken)
    monkeypatch.setattr("sys.argv", ["gpu_check", *argv[:3], "cells=gru", "precisions=32-true", "timing=false"])
    assert gpu_check.cli() == 1
    out = capsys.readouterr().out
    assert "names x gru x 32-true: FAILED at inspect" in out and "same device" in out and "0 of 1 checks" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trainer=tpu"], "trainer=tpu: tpu is not one of gpu, cpu"),
        (["precisions=8-mixed"], "8-mixed is not one of"),
        (["model=gru"], "sets task=, model= and trainer= itself"),
        pytest.param(
            ["trainer=gpu"],
            "trainer=gpu but torch sees no CUDA",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
        ),
    ],
)
def test_gpu_check_bad_options_are_one_line(argv, message, monkeypatch, capsys):
    from benchmarks import gpu_check

    monkeypatch.setattr("sys.argv", ["gpu_check", *argv])
    with pytest.raises(SystemExit) as exit_:
        gpu_check.cli()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize(
    ("argv", "code", "shown"),
    [(["--help"], 0, "Seconds per training epoch"), (["threads=abc"], 2, "error: threads=abc cannot be used")],
)
def test_a_benchmark_answers_help_and_a_bad_train_value_in_one_line(argv, code, shown, monkeypatch, capsys):
    """Through the command's own entry (benchmarks.cli.run), as `python -m benchmarks.speed ...` runs."""
    from benchmarks.cli import run

    monkeypatch.setattr(sys, "argv", ["benchmarks.speed", *argv])
    try:
        run(speed.main)
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    assert status == code and shown in out + err
    assert len(err.strip().splitlines()) == (1 if code else 0)


def test_the_scaling_plot_goes_under_outputs_unless_docs_are_asked_for(tmp_path: Path, monkeypatch):
    """`make scaling` no longer overwrites the tracked docs/scaling.png."""
    from benchmarks import scaling

    monkeypatch.chdir(tmp_path)
    options, _ = scaling.parse([])
    assert options["out"] == "outputs/benchmarks/scaling.png" and (tmp_path / "outputs" / "benchmarks").is_dir()


def test_scan_benchmark_times_both_scans_of_both_cells_side_by_side(capsys):
    import json

    from benchmarks.scan import main

    main(["lengths=4,8", "batch=2", "hidden=3", "inputs=2", "rounds=1"])
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert report["threads"] == 1 and [(r["cell"], r["length"]) for r in report["rows"]] == [
        ("mingru", 4),
        ("mingru", 8),
        ("minlstm", 4),
        ("minlstm", 8),
    ]
    for row in report["rows"]:
        assert row["speedup"] == pytest.approx(row["sequential_wall_s"] / row["parallel_wall_s"], rel=0.02, abs=0.01)
    assert "| mingru | 8 |" in out and "speed-up" in out
    with pytest.raises(UserError, match="cells=gru: gru is not one of mingru, minlstm"):
        main(["cells=gru"])
    with pytest.raises(UserError, match="foo=1 is not an option of benchmarks.scan"):
        main(["foo=1"])
