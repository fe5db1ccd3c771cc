"""python -m src.fair_cells: a study per cell under one budget, the best retrained over seeds, the report;
resumed by the same command; and src.train pointing there."""

import json
import signal
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

import src.fair_cells
from src import train


def test_studies_survive_failed_trials_then_retrain_and_report(data_dir: Path, tmp_path: Path, run_cli):
    out = tmp_path / "fair"
    argv = [
        "task=names",
        f"paths.data_dir={data_dir}",
        "fair_cells.trials=4",
        "fair_cells.cells=[rnn,gru]",
        "fair_cells.seeds=[1,2]",
        "fair_cells.budget=20000",
        # dropout above 1 is refused when the model is built: those trials fail, the others go on
        "fair_cells.search.dropout.high=1.5",
        "fair_cells.search.budget_share.choices=[1.0]",
        f"fair_cells.output_dir={out}",
        "task.module.embedding_dim=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
    ]
    code, stdout, err = run_cli(src.fair_cells, argv)
    assert code == 0, err
    setup = json.loads((out / "fair_cells.json").read_text())
    assert setup["budget"] == 20000 and setup["trials"] == 4 and setup["seeds"] == [1, 2]
    for cell in ("rnn", "gru"):
        trials = setup["studies"][cell]["trials"]
        assert len(trials) == 4  # every trial ran, the failed ones too
        assert any("failed" in t for t in trials) and any("value" in t for t in trials)
        best = setup["studies"][cell]["best"]
        assert "model.param_budget=20000" in best["overrides"]
        assert abs(best["params"] - 20000) <= 400  # the budget, within 2%
        for seed in (1, 2):
            results = json.loads((out / "seeds" / f"{cell}_seed{seed}" / "results.json").read_text())
            assert results["params"] == best["params"] and results["hidden_size"] == best["hidden_size"]
    # the same draws for every cell: the studies differ only by the cell
    assert [t["overrides"] for t in setup["studies"]["rnn"]["trials"]][:2] == [
        t["overrides"] for t in setup["studies"]["gru"]["trials"]
    ][:2]
    assert "verdict on test/acc" in stdout
    assert (out / "compare.png").is_file() and (out / "compare.md").is_file()
    written = (out / "report.md").read_text()
    assert "parameter budget: 20,000" in written and "4 Optuna (TPE) trials per cell" in written
    assert "symbol_dropout" in written  # names has it (dinos would not list it)
    assert f"hidden_size {setup['studies']['gru']['best']['hidden_size']}" in written


def test_the_same_command_resumes_the_comparison_and_more_trials_extend_it(data_dir: Path, tmp_path: Path, run_cli):
    out = tmp_path / "fair"
    argv = [
        "task=names",
        f"paths.data_dir={data_dir}",
        "fair_cells.cells=[rnn]",
        "fair_cells.budget=20000",
        f"fair_cells.output_dir={out}",
        "task.module.embedding_dim=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
    ]
    code, _, err = run_cli(src.fair_cells, [*argv, "fair_cells.trials=2", "fair_cells.seeds=[1]"])
    assert code == 0, err
    trial_folders = sorted(p.name for p in (out / "search" / "rnn").iterdir())
    first = json.loads((out / "fair_cells.json").read_text())["studies"]["rnn"]
    seed1 = (out / "seeds" / "rnn_seed1" / "results.json").stat().st_mtime_ns

    code, _, err = run_cli(src.fair_cells, [*argv, "fair_cells.trials=2", "fair_cells.seeds=[1,2]"])
    assert code == 0, err
    assert sorted(p.name for p in (out / "search" / "rnn").iterdir()) == trial_folders  # no trial run again
    assert json.loads((out / "fair_cells.json").read_text())["studies"]["rnn"]["trials"] == first["trials"]
    assert (out / "seeds" / "rnn_seed1" / "results.json").stat().st_mtime_ns == seed1  # seed 1 kept
    assert (out / "seeds" / "rnn_seed2" / "results.json").is_file()  # seed 2 added

    code, _, err = run_cli(src.fair_cells, [*argv, "fair_cells.trials=3", "fair_cells.seeds=[1,2]"])
    assert code == 0, err
    study = json.loads((out / "fair_cells.json").read_text())["studies"]["rnn"]
    assert [t["number"] for t in study["trials"]] == [0, 1, 2] and study["trials"][:2] == first["trials"]
    if study["best"]["number"] != first["best"]["number"]:  # a new best: its seeds retrained, the old kept aside
        assert len(list((out / "superseded").iterdir())) == 2

    result = run_cli(src.fair_cells, [*argv, "fair_cells.trials=3", "fair_cells.search.lr.high=5e-2"])
    result.assert_one_clear_line("exists in its storage with another search space", "fair_cells.output_dir")


def test_src_train_points_a_fair_comparison_to_its_own_command(run_cli):
    result = run_cli(train, ["-m", "experiment=fair_cells", "task=dinos"])
    result.assert_one_clear_line("experiment=fair_cells is its own command: python -m src.fair_cells task=dinos")


@pytest.mark.slow
def test_a_stopped_seed_runs_resume_line_is_the_fair_cells_command(data_dir, tmp_path, run_cli):
    """A seed run stopped by a signal logged `resume: python -m src.train experiment=fair_cells ...`,
    which src.train refuses (experiment=fair_cells is its own command): the line names that command."""
    from hydra.core.hydra_config import HydraConfig

    from src.run.console import resume_command

    src.fair_cells.compose_run(["task=names", f"paths.data_dir={data_dir}"], tmp_path / "run")
    try:
        line = resume_command(tmp_path / "run" / "checkpoints" / "last.ckpt", tmp_path / "run")
    finally:
        HydraConfig.instance().cfg = None
    assert "python -m src.fair_cells" in line and "python -m src.train" not in line
    assert str(tmp_path / "run" / "checkpoints" / "last.ckpt") in line


def test_two_workers_take_the_next_run_as_one_ends_and_a_lost_worker_costs_only_its_runs(
    data_dir: Path, tmp_path: Path, signal_when, worker_of
):
    """fair_cells.workers=2: runs in two worker processes, a free worker taking the next run at once
    (the next cell's study starts while a cell's last trial runs). A worker killed mid-trial: its
    trials are marked failed and tried again with the same parameters; the comparison still ends."""
    out = tmp_path / "fair"
    argv = [
        "task=names",
        f"paths.data_dir={data_dir}",
        "fair_cells.trials=3",
        "fair_cells.cells=[rnn,gru]",
        "fair_cells.seeds=[1]",
        "fair_cells.budget=20000",
        "fair_cells.workers=2",
        f"fair_cells.output_dir={out}",
        "task.module.embedding_dim=4",
        "trainer.max_epochs=4",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=1",
    ]

    def worker(pid: int) -> int | None:
        training = len(list((out / "search" / "rnn").glob("*/config.yaml"))) >= 2
        return worker_of(pid) if training else None

    code, text = signal_when([sys.executable, "-m", "src.fair_cells", *argv], worker, signal.SIGKILL)
    assert code == 0, text[-3000:]
    assert "a worker stopped" in text
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    rnn = optuna.load_study(study_name="names_rnn", storage=storage).trials
    lost = [t for t in rnn if t.state == TrialState.FAIL]
    assert lost and all(any(r.params == t.params and r.state == TrialState.COMPLETE for r in rnn) for t in lost)
    setup = json.loads((out / "fair_cells.json").read_text())
    for cell in ("rnn", "gru"):
        assert len([t for t in setup["studies"][cell]["trials"] if "value" in t]) == 3
        assert (out / "seeds" / f"{cell}_seed1" / "results.json").is_file()
    # asynchronous: gru's first trial began before rnn's last trial ended
    began = min((p / "config.yaml").stat().st_mtime for p in (out / "search" / "gru").iterdir())
    ended = max(p.stat().st_mtime for p in (out / "search" / "rnn").glob("*/results.json"))
    assert began < ended
    assert "verdict on test/acc" in text


def test_a_worker_process_composes_a_run_with_the_projects_resolvers():
    """A worker (fair_cells.workers=2) runs run_one in a fresh process, where no command registered
    conf/'s resolvers: every trial failed on ${default_data_dir:} when paths.data_dir was not given."""
    from omegaconf import OmegaConf

    from src.fair_cells import compose_run
    from src.run.resolvers import register_resolvers

    for name in ("default_data_dir", "run_suffix", "runs_root", "named", "fit_name"):
        OmegaConf.clear_resolver(name)  # as a new process starts
    try:
        cfg = compose_run(["task=names"])
        assert OmegaConf.select(cfg, "paths.data_dir")  # resolved, not UnsupportedInterpolationType
    finally:
        register_resolvers()
