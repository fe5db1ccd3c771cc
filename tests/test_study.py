"""Optuna studies as sweeps (src/run/study.py): a journal in the sweep folder, resumed by the same command
(after it finished, and after `kill -9` mid-trial), and bad input in one line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

import src.train

ROOT = Path(__file__).resolve().parents[1]


def study_of(sweep: Path, name: str = "names_gru") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(sweep / "study.journal"))))


def search(tiny: list[str], sweep: Path, trials: int, *more: str) -> list[str]:
    small = [o for o in tiny if not o.startswith("model.hidden_size=")]
    return [
        "-m",
        "hparams_search=names_optuna",
        f"hydra.sweeper.n_trials={trials}",
        *small,
        "model.hidden_size=choice(4,8)",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
        *more,
    ]


def test_the_same_command_resumes_a_study_without_redoing_a_trial(tiny, tmp_path, run_cli):
    sweep = tmp_path / "study"
    result = run_cli(src.train, search(tiny, sweep, 2))
    assert result.code == 0, result.err
    first = {t.number: t.params for t in study_of(sweep).trials}
    result = run_cli(src.train, search(tiny, sweep, 4))
    assert result.code == 0, result.err
    trials = study_of(sweep).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert {t.number: t.params for t in trials[:2]} == first  # the finished trials kept as they were
    assert trials[2].params != trials[0].params  # the resumed sampler draws on, not from its start again
    runs = sorted(int(p.parent.name.split("_")[0]) for p in sweep.glob("*/results.json"))
    assert runs == [0, 1, 2, 3]  # a run folder per trial, named by its number
    assert "complete: 4" in (sweep / "optimization_results.yaml").read_text()


@pytest.mark.slow
def test_kill_9_mid_trial_then_the_same_command_finishes_the_study(tiny, tmp_path):
    """The driver killed while trial 1 runs: trial 0 is kept, trial 1 is marked failed and its
    parameters tried again, and the study ends with 2 completed trials."""
    sweep = tmp_path / "study"
    argv = search(tiny, sweep, 2, "trainer.max_epochs=30", "callbacks.early_stopping=null")
    cmd = [sys.executable, "-m", "src.train", *argv]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if (sweep / "study.journal").exists():
                states = [t.state for t in study_of(sweep).trials]
                if states[:2] == [TrialState.COMPLETE, TrialState.RUNNING]:
                    break
        else:
            pytest.fail("trial 1 never started")
        time.sleep(1.0)  # inside trial 1's epochs
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = study_of(sweep).trials
    assert [t.state for t in before[:2]] == [TrialState.COMPLETE, TrialState.RUNNING]

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    trials = study_of(sweep).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and trials[0].params == before[0].params and trials[0].value == before[0].value
    assert trials[1].state == TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 1)
    assert retry.params == before[1].params and retry.state == TrialState.COMPLETE
    assert "trial 1 was left running" in again.stdout + again.stderr


@pytest.mark.parametrize(
    ("more", "needle"),
    [
        (["hydra.sweeper.workers=0"], "hydra.sweeper.workers=0; give a whole number of at least 1"),
        (["hydra.sweeper.storage=nosuchdb://x/y"], "hydra.sweeper.storage=nosuchdb://x/y cannot be opened"),
        (["hydra.sweeper.direction=up"], "hydra.sweeper.direction=up; use maximize or minimize"),
    ],
)
def test_bad_study_options_are_one_line(more, needle, tiny, tmp_path, run_cli):
    run_cli(src.train, search(tiny, tmp_path / "s", 2, *more)).assert_one_clear_line(needle)
    assert not list((tmp_path / "s").glob("*/results.json"))  # no trial ran


def test_a_study_name_taken_by_another_search_space_is_one_line(tiny, tmp_path, run_cli):
    sweep = tmp_path / "study"
    assert run_cli(src.train, search(tiny, sweep, 1)).code == 0
    trials = [(t.number, t.state, t.params) for t in study_of(sweep).trials]
    result = run_cli(src.train, search(tiny, sweep, 2, "task.module.lr=1e-3"))
    result.assert_one_clear_line("study names_gru exists in its storage with another search space", "task.module.lr")
    assert [(t.number, t.state, t.params) for t in study_of(sweep).trials] == trials  # nothing ran or changed


def started_and_ended(sweep: Path, number: int) -> tuple[float, float]:
    """When a trial's run began (its config.yaml written) and ended (its results.json written)."""
    [run] = [p.parent for p in sweep.glob(f"{number}_*/results.json")]
    return (run / "config.yaml").stat().st_mtime, (run / "results.json").stat().st_mtime


@pytest.mark.slow
def test_two_workers_run_two_trials_at_once_each_in_its_own_folder(tiny, tmp_path, run_cli):
    sweep = tmp_path / "study"
    result = run_cli(src.train, search(tiny, sweep, 4, "hydra.sweeper.workers=2", "trainer.max_epochs=3"))
    assert result.code == 0, result.err
    trials = study_of(sweep).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    runs = sorted(p.parent.name for p in sweep.glob("*/results.json"))
    assert [int(r.split("_")[0]) for r in runs] == [0, 1, 2, 3]  # one folder per trial, none shared
    (a0, b0), (a1, b1) = started_and_ended(sweep, 0), started_and_ended(sweep, 1)
    assert a0 < b1 and a1 < b0  # trials 0 and 1 ran at the same time


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_trial_retries_only_what_did_not_finish(tiny, tmp_path, signal_when, worker_of):
    sweep = tmp_path / "study"
    argv = search(tiny, sweep, 3, "hydra.sweeper.workers=2", "trainer.max_epochs=30", "callbacks.early_stopping=null")

    def worker(pid: int) -> int | None:
        training = len(list(sweep.glob("*/config.yaml"))) >= 2  # both trials of the first batch
        return worker_of(pid) if training else None

    code, out = signal_when([sys.executable, "-m", "src.train", *argv], worker, signal.SIGKILL)
    assert code == 0, out[-3000:]
    trials = study_of(sweep).trials
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(any(r.user_attrs.get("retry_of") == f.number for r in trials) for f in failed)
    finished = {int(p.parent.name.split("_")[0]) for p in sweep.glob("*/results.json")}
    assert finished == {t.number for t in trials if t.state == TrialState.COMPLETE}  # failed trials left no result
    assert "the launcher lost a batch of trials" in out


def test_a_hopeless_trial_is_pruned_and_shows_as_pruned(tiny, tmp_path, run_cli):
    """Two finished trials that scored 1.0 after every epoch are planted in the study; a new trial that
    cannot learn (lr 1e-9) is below their median after epoch 2, so the median pruner stops it there."""
    sweep = tmp_path / "study"
    sweep.mkdir()
    study = optuna.create_study(
        study_name="names_gru",
        direction="maximize",
        storage=JournalStorage(JournalFileBackend(str(sweep / "study.journal"))),
    )
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={e: 1.0 for e in range(5)}))
    argv = search(
        tiny,
        sweep,
        3,
        "hydra.sweeper.pruner=median",
        "trainer.max_epochs=5",
        "task.module.lr=1e-9",
        "callbacks.early_stopping=null",
    )
    result = run_cli(src.train, argv)
    assert result.code == 0, result.err
    trial = study_of(sweep).trials[2]
    assert trial.state == TrialState.PRUNED and trial.user_attrs["pruned_at"] == 1 and trial.last_step == 1
    [results] = [json.loads(p.read_text()) for p in sweep.glob("2_*/results.json")]
    assert results["pruned_at"] == 1 and results["epochs"] == 2  # stopped after its second epoch, then tested
    assert "| 1 (1 pruned) |" in (sweep / "compare.md").read_text()
    summary = (sweep / "optimization_results.yaml").read_text()
    assert "pruned: 1" in summary and "state: pruned" in summary


@pytest.mark.slow
def test_a_preempted_cluster_job_is_requeued_and_resumes_its_own_run_folder(shared_data, tmp_path, signal_when):
    """submitit's local executor plays the cluster: SIGUSR2 (what SLURM sends before a time limit or
    on a preemption) mid-run; submitit requeues the job, which resumes its own folder from last.ckpt
    and finishes every epoch; train.log says what happened and how to resume by hand."""
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "src.train",
        "-m",
        "hydra/launcher=submitit_local",
        "model=gru",
        f"paths.data_dir={shared_data}",
        "model.hidden_size=16",
        "++trainer.limit_train_batches=40",
        "trainer.max_epochs=6",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    ]

    def job(pid: int) -> int | None:
        if not list(sweep.glob("*/checkpoints/last.ckpt")):  # no epoch done yet: nothing to resume
            return None
        found = subprocess.run(["pgrep", "-f", f"submitit.core._submit {sweep}"], capture_output=True, text=True)
        return int(found.stdout.split()[0]) if found.stdout.split() else None

    code, out = signal_when(cmd, job, signal.SIGUSR2)
    assert code == 0, out[-3000:]
    [run] = [p.parent for p in sweep.glob("*/results.json")]
    results = json.loads((run / "results.json").read_text())
    assert results["epochs"] == 6  # the requeued job trained on to the end
    log = (run / "train.log").read_text()
    assert "SIGUSR2 (time limit or preemption)" in log and "resume by hand: python -m src.train" in log
    assert f"requeued job: resuming its run folder {run.resolve()}" in log
    assert log.count("training: up to 6 epochs") == 2 and "resumed at step" in log


def test_a_launcher_preset_without_its_plugin_is_one_line(tiny, tmp_path, run_cli, monkeypatch):
    """hydra/launcher=slurm where hydra-submitit-launcher is not installed: Hydra cannot find the config
    the preset builds on (played here by raising what Hydra raises then)."""
    from hydra.errors import MissingConfigException

    import src.run.checks

    def compose(**kwargs):
        raise MissingConfigException("In 'hydra/launcher/slurm': Could not find 'hydra/launcher/submitit_slurm'")

    monkeypatch.setattr(src.run.checks, "compose", compose)
    result = run_cli(src.train, ["-m", *tiny, "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 's'}"])
    result.assert_one_clear_line("its launcher plugin is not installed", "pip install -e '.[cluster]'")
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(shutil.which("srun") is not None, reason="this machine is a SLURM node")
def test_the_slurm_launcher_off_a_cluster_is_one_line(tiny, tmp_path, run_cli):
    result = run_cli(src.train, ["-m", *tiny, "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 's'}"])
    result.assert_one_clear_line("hydra/launcher=slurm needs a SLURM cluster", "hydra/launcher=workers")
    assert not (tmp_path / "s").exists()
