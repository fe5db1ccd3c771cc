"""`python -m src.compare DIR`: the table and picture of a set of runs, and its bad inputs."""

import logging
import os
import sys
from pathlib import Path

import pytest

from src.analysis.table import Run, compare, group_key, shorten
from src.compare import cli, main
from src.errors import UserError
from src.run.build import train


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, compose, make_data) -> Path:
    """rnn and gru, two seeds each, one hello run, and one run that never finished."""

    root = tmp_path_factory.mktemp("compare")
    make_data(root)
    # log_every_n_steps=1: these runs have one batch an epoch (Lightning warns when it is below the interval)
    base = [
        f"paths.data_dir={root / 'data'}",
        "model.hidden_size=8",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
    ]
    for cell in ("rnn", "gru"):
        for seed in (1, 2):
            overrides = [*base, f"model={cell}", f"seed={seed}"]
            train(compose(overrides, root / "runs" / f"{cell}_{seed}"))
    train(compose(["task=hello", "trainer.max_epochs=2", "trainer.enable_progress_bar=false"], root / "runs" / "h"))
    killed = root / "runs" / "killed" / ".hydra"
    killed.mkdir(parents=True)
    (killed / "config.yaml").write_text("task:\n  name: names\nmodel:\n  cell: lstm\n")
    (killed / "overrides.yaml").write_text("- model=lstm\n")
    return root / "runs"


def test_reading_the_events_logs_nothing_about_their_files(runs_dir: Path, caplog):
    """TensorBoard's directory watcher logs a line per events file at INFO ("No path found after ...");
    a sweep's console (INFO) showed them under the table."""
    caplog.set_level(logging.INFO)
    compare(runs_dir)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("tensorboard")] == []


def test_table_aggregates_seeds_groups_tasks_and_lists_incomplete_runs(runs_dir: Path):
    report = compare(runs_dir)
    assert "### names" in report and "### hello" in report  # a mix of tasks, grouped by task
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    rnn = next(r for r in rows if r.startswith("| rnn "))
    assert "| 2 |" in rnn and "±" in rnn  # two seeds -> mean ± std
    assert "model=rnn" in rnn and "seed=" not in rnn
    assert any(r.startswith("| lstm | incomplete |") and "killed" in r for r in rows)
    header = next(r for r in rows if r.startswith("| model |") and "val/acc" in r)
    assert "test/acc" in header and "s/epoch" in header
    assert (runs_dir / "compare.md").read_text().strip() == report.strip()
    assert (runs_dir / "compare.png").stat().st_size > 10_000


def test_command_prints_the_table(runs_dir: Path, tmp_path: Path, capsys):
    main([str(runs_dir), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "### names" in out and (tmp_path / "compare.png").is_file()


def test_empty_folder_and_other_programs_files(tmp_path: Path):
    with pytest.raises(UserError, match="no runs under"):
        compare(tmp_path)
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="no runs under"):
        compare(tmp_path)
    with pytest.raises(UserError, match="is not a folder"):
        compare(tmp_path / "notes.txt")


def test_command_on_an_empty_folder_is_one_line_and_status_2(tmp_path: Path, capsys):
    assert cli([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no runs under") and "\n" not in err


def test_compare_covers_every_task_config(data_dir: Path, tmp_path: Path, compose):
    """As tasks are added (conf/task/*.yaml), compare keeps reading their runs."""
    from src.paths import CONF_DIR

    tasks = sorted(p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml"))
    for task in tasks:
        overrides = [f"task={task}", "trainer=debug", f"paths.data_dir={data_dir}", "model.hidden_size=8"]
        train(compose(overrides, tmp_path / "runs" / task))
    report = compare(tmp_path / "runs")
    assert [line[4:] for line in report.splitlines() if line.startswith("### ")] == tasks


def test_command_with_an_empty_path_does_not_compare_the_current_folder(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli([""]) == 2
    assert capsys.readouterr().err.startswith("error: give a folder of runs")
    assert not (tmp_path / "compare.md").exists()


def test_mean_std_leaves_out_missing_metrics():
    from src.analysis.table import mean_std

    assert mean_std([float("nan"), float("nan")]) == "n/a"
    assert mean_std([0.5, float("nan")]) == "0.5000"
    assert mean_std([1.0, 3.0], digits=1) == "2.0 ± 1.4"


def test_a_resumed_run_is_grouped_with_the_other_seeds_of_its_setting():
    """fair_cells resumes a stopped seed run with ckpt_path=<its last.ckpt>; compare once made it a
    group of its own (the addition study's mingru: 2 runs and 1 run instead of 3)."""
    setting = ["trainer.max_epochs=10", "model=mingru", "task.module.lr=0.0008874"]
    fresh = Run(Path("mingru_seed1"), "addition", "mingru", [*setting, "seed=1"])
    resumed = Run(Path("mingru_seed3"), "addition", "mingru", [*setting, "seed=3", "ckpt_path=/r/last.ckpt"])
    assert group_key(resumed) == group_key(fresh) == ("mingru", " ".join(setting))


def test_long_labels_are_cut_for_the_figures_and_short_ones_kept():
    label = "model=lstm task.module.lr=0.005186 task.module.dropout=0.003371 task.module.weight_decay=0.0001"
    assert shorten(label) == label[:39] + "\u2026" and len(shorten(label)) == 40
    assert shorten("gru") == "gru" and shorten("x" * 40) == "x" * 40


def cells_of(report: str, first: str) -> dict[tuple[str, str, str], str]:
    """(task, row's first cell, column) -> cell, of the tables whose header starts with `first`."""
    found, task, head = {}, "", []
    for line in report.splitlines():
        if line.startswith("### "):
            task = line[4:]
        elif line.startswith(f"| {first} |"):
            head = [c.strip() for c in line.strip("|").split("|")]
        elif line.startswith("| ") and head and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            found |= {(task, cells[0], h): c for h, c in zip(head, cells, strict=False)}
        else:
            head = head if line.startswith("|") else []
    return found


def test_a_run_shows_one_value_per_test_metric_and_its_items_give_it(data_dir: Path, tmp_path: Path, compose, run_cli):
    """The table (results.json) and the interval table (a bootstrap over test_predictions.jsonl) showed
    two test/loss values for one run: the items' loss was averaged over words where test/loss is per
    symbol, and for names taken on the post-hoc adjusted logits, not those test/loss is computed on."""
    from src import compare as entry

    runs = {"names": ["model=rnn"], "dinos": ["model=gru"], "hello": ["model=gru"], "pairs": ["model=gru"]}
    runs["weights"] = ["task=names", "model=gru", "task.module.class_balance=weights"]
    for name, overrides in runs.items():
        task = [] if name == "weights" else [f"task={name}"]
        base = ["trainer=debug", f"paths.data_dir={data_dir}", "model.hidden_size=8"]
        train(compose([*task, *base, *overrides], tmp_path / "runs" / name))
    code, out, err = run_cli(entry, [str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert code == 0, err
    table, intervals = cells_of(out, "model"), cells_of(out, "group")
    shown = [(k, v) for k, v in intervals.items() if k[2].startswith("test/") and v]
    assert {k[0] for k, _ in shown} == {"names", "dinos", "hello", "pairs"}
    for key, interval in shown:
        assert interval.split()[0] == table[key], (key, table[key], interval)
        if key[2] == "test/loss":  # the items' weighted mean is the run's test/loss: its interval is theirs
            assert "[" in interval, (key, interval)


def test_compare_piped_into_head_stops_quietly(data_dir: Path, tmp_path: Path, compose, capsys, monkeypatch):
    """`python -m src.compare DIR | head -1`: the reader leaves after a line; the rest of the table has
    nowhere to go, which is no error (it ended in a BrokenPipeError traceback). Its stdout here is a
    pipe whose reading end is closed, as head leaves it (Python ignores SIGPIPE: a write fails with EPIPE)."""
    train(compose(["trainer=debug", f"paths.data_dir={data_dir}", "model.hidden_size=8"], tmp_path / "runs" / "a"))
    read, write = os.pipe()
    os.close(read)
    closed = open(write, "w", buffering=1)  # noqa: SIM115 - closed below, after the entry point
    monkeypatch.setattr(sys, "stdout", closed)
    capsys.readouterr()
    code = cli([str(tmp_path / "runs")])
    closed.close()  # the flush at exit: nothing left that fails
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
    assert (tmp_path / "runs" / "compare.md").is_file()
