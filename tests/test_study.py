"""Optuna studies as sweeps (src/study.py): a journal in the sweep folder, resumed by the same command
(after it finished, and after `kill -9` mid-trial), and bad input in one line."""

import os
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
    return ["-m", "hparams_search=names_optuna", f"hydra.sweeper.n_trials={trials}", *small,
            "model.hidden_size=choice(4,8)", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", *more]  # fmt: skip


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
    parameters tried again, and the study ends with 3 completed trials."""
    sweep = tmp_path / "study"
    argv = search(tiny, sweep, 3, "trainer.max_epochs=30", "callbacks.early_stopping=null")
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
    assert len(complete) == 3 and trials[0].params == before[0].params and trials[0].value == before[0].value
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
