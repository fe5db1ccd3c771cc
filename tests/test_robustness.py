"""Bad input is one line before anything is built; a run folder holds one run; a sweep with a failed
job still ends with its table. Everything through the real entry points, in-process."""

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

import src.analysis.table
import src.compare
import src.errors
import src.run.build
import src.train

# (override, words the one error line must hold): each refused before a run folder is written
BAD_TRAIN_OPTIONS = [
    ("trainer.max_epochs=x", "trainer.max_epochs=x"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0"),  # would write a finished-looking untrained run
    ("trainer.max_epochs=-5", "at least 1"),
    ("trainer.devices=0", "trainer.devices=0"),
    ("task.data.batch_size=0", "task.data.batch_size=0"),
    ("task.data.batch_size=-1", "task.data.batch_size=-1"),
    ("task.data.eval_batch_size=0", "task.data.eval_batch_size=0"),
    ("task.module.lr=-1", "task.module.lr=-1"),
    ("task.module.lr=abc", "task.module.lr=abc"),
    ("seed=abc", "seed=abc"),
    ("seed=-1", "seed=-1"),
    ("threads=-1", "threads=-1"),
    ("threads=abc", "threads=abc"),
    ("task.module.label_smoothing=2", "task.module.label_smoothing=2"),
    ("task.module.dropout=2", "task.module.dropout=2"),
    ("model.hidden_size=0", "model.hidden_size=0"),
    ("model.num_layers=0", "model.num_layers=0"),
    ("model.dropout=2", "model.dropout=2"),
    ("task.module.lr_schedule=foo", "onecycle"),
    ("foo=1", "+foo=1"),
    ("task.modul.lr=1", "+task.modul.lr=1"),
    ("model.hidden_size=[1", "quote"),
    ("+trainer.max_steps=0", "trainer.max_steps=0"),  # would write a finished-looking untrained run
    ("++trainer.limit_train_batches=0", "trainer.limit_train_batches=0"),
    ("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0"),
    ("trainer.gradient_clip_val=nan", "trainer.gradient_clip_val=nan"),
    ("model.bidirectional=maybe", "model.bidirectional=maybe"),
    ("model.param_budget=abc", "model.param_budget=abc"),
    ("task.monitor_mode=foo", "min or max"),
    ("model.hidden_size=1000000000", "from 1 to 65,536"),  # a stated limit, not a 4 EB allocation
    ("model.num_layers=1000", "from 1 to 64"),
]
# options of other tasks than names (tiny's): the same check, without tiny's names options
BAD_TASK_OPTIONS = [
    ("task=hello task.data.passes=1000000000", "task.data.passes=1000000000"),
    ("task=binary task.data.train_size=1000000000", "from 1 to 10,000,000"),
    ("task=dinos task.data.test_size=0", "task.data.test_size=0"),
    ("task=addition task.data.length_bits=[64,5000]", "from 1 to 1,000 bits"),  # a 10,001-step source
    ("task=addition task.data.train_bits=0", "task.data.train_bits=0"),
]


@pytest.mark.parametrize(
    "override, needle", BAD_TRAIN_OPTIONS + BAD_TASK_OPTIONS, ids=[o for o, _ in BAD_TRAIN_OPTIONS + BAD_TASK_OPTIONS]
)
def test_a_bad_option_is_one_line_before_a_run_folder_exists(override, needle, tiny, tmp_path, run_cli):
    run = tmp_path / "run"
    tiny = [] if override.startswith("task=") else tiny
    result = run_cli(src.train, [*tiny, f"hydra.run.dir={run}", *override.split()])
    result.assert_one_clear_line(needle)
    assert not run.exists()  # refused before Hydra wrote anything


@pytest.mark.parametrize(
    "override, needle",
    [("task.module.pooling=foo", "task.module.pooling=foo"), ("task.monitor=val/losss", "val/acc")],
)
def test_an_option_the_task_checks_is_one_line_before_training(override, needle, tiny, tmp_path, run_cli):
    run = tmp_path / "run"
    result = run_cli(src.train, [*tiny, f"hydra.run.dir={run}", override])
    result.assert_one_clear_line(needle)
    assert not (run / "checkpoints").exists() and not (run / "results.json").exists()


def test_ddp_without_a_gpu_asks_for_cpu_processes_by_name(tiny, tmp_path, run_cli, monkeypatch):
    """trainer=ddp trainer.devices=4 on a machine without a GPU started 4 CPU processes without a word."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny = [o for o in tiny if not o.startswith("trainer.accelerator")]
    argv = [*tiny, f"hydra.run.dir={tmp_path / 'run'}", "trainer=ddp", "trainer.devices=4"]
    run_cli(src.train, argv).assert_one_clear_line("trainer=ddp found no CUDA GPU", "trainer.accelerator=cpu")


def test_a_slurm_sweep_is_not_refused_for_the_login_nodes_missing_gpu(monkeypatch):
    """The jobs run on GPU nodes: the submitting machine's devices are not theirs."""
    import shutil as shutil_

    from src.run.checks import check_command_line

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(shutil_, "which", lambda name: f"/usr/bin/{name}")
    for trainer in (["trainer=gpu"], ["trainer=ddp", "trainer.devices=4"]):
        check_command_line(["-m", "hydra/launcher=slurm", *trainer, "model=rnn,gru"])
        with pytest.raises(src.errors.UserError, match="CUDA GPU"):
            check_command_line([*trainer, "model=rnn"])


def test_a_gpu_trainer_without_a_gpu_is_one_line(tiny, tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny = [o for o in tiny if not o.startswith("trainer.accelerator")]
    run_cli(src.train, [*tiny, f"hydra.run.dir={tmp_path / 'run'}", "trainer=gpu"]).assert_one_clear_line(
        "trainer.accelerator=gpu", "trainer=cpu"
    )


def test_a_run_folder_under_a_file_is_one_line(tiny, tmp_path, run_cli):
    (tmp_path / "file").write_text("not a folder\n")
    result = run_cli(src.train, [*tiny, f"hydra.run.dir={tmp_path / 'file' / 'run'}"])
    result.assert_one_clear_line("is a file, not a folder")


def test_a_search_with_no_trials_is_one_line(tiny, tmp_path, run_cli):
    argv = ["-m", "hparams_search=names_optuna", "hydra.sweeper.n_trials=0", f"hydra.sweep.dir={tmp_path / 's'}"]
    run_cli(src.train, [*tiny, *argv]).assert_one_clear_line("hydra.sweeper.n_trials=0")
    assert not (tmp_path / "s").exists()


def test_a_folder_holding_a_run_is_refused_and_left_as_it_was(tiny, tmp_path, run_cli):
    run = tmp_path / "run"
    argv = [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]
    assert run_cli(src.train, argv).code == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    run_cli(src.train, argv).assert_one_clear_line("holds another run", "ckpt_path=")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # not a byte written


@pytest.mark.parametrize("folder", ["", ".", ".."])
def test_a_run_folder_that_is_the_working_folder_is_one_line(folder, tiny, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    run_cli(src.train, [*tiny, f"hydra.run.dir={folder}"]).assert_one_clear_line("the folder you are in")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written where the user stands


def test_a_second_command_into_a_run_still_going_is_refused_and_writes_nothing(tiny, tmp_path, run_cli):
    """A resume (or any run) started while the folder's run is still going: another process holds it."""
    import subprocess
    import sys

    run = tmp_path / "run"
    argv = [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]
    assert run_cli(src.train, argv).code == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # the run "still going" in another process
        last = run / "checkpoints" / "last.ckpt"
        result = run_cli(src.train, [*argv[:-1], "trainer.max_epochs=2", f"ckpt_path={last}"])
        result.assert_one_clear_line("is in use by a run that is still going")
    finally:
        holder.kill()
        holder.wait()
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # not a byte written


# a process that holds a run folder as a running train() does, until it is killed
HOLD = (
    "import sys, time; from pathlib import Path; from src.run.folder import hold; "
    "hold(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"
)


def test_two_runs_started_into_one_empty_folder_one_is_refused_before_writing(tiny, tmp_path, run_cli):
    """The race: the first run holds the new folder (as from its preflight on) but has written nothing
    yet; the second is refused and writes nothing there (it rewrote the winner's .hydra/config.yaml and
    appended to its train.log)."""
    import subprocess
    import sys

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_cli(src.train, [*tiny, f"hydra.run.dir={run}", "seed=1"])
        result.assert_one_clear_line("is in use by a run that is still going")
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in run.rglob("*")) == [".run.lock"]


def test_a_resume_that_fails_before_its_first_checkpoint_leaves_the_finished_run_as_it_was(
    tiny, tmp_path, run_cli, interrupt_after_epoch, monkeypatch
):
    run = tmp_path / "run"
    argv = [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]
    assert run_cli(src.train, argv).code == 0
    kept = {name: (run / name).read_bytes() for name in ("results.json", "config.yaml")}
    import src.run.build as build_module

    build_trainer = build_module.build_trainer

    def stopped_at_once(cfg, logger, extra_callbacks=()):  # Ctrl-C as the resumed epoch starts
        return build_trainer(cfg, logger, extra_callbacks=[*extra_callbacks, interrupt_after_epoch(1)])

    monkeypatch.setattr(build_module, "build_trainer", stopped_at_once)
    last = run / "checkpoints" / "last.ckpt"
    result = run_cli(src.train, [*argv[:-1], "trainer.max_epochs=3", f"ckpt_path={last}"])
    assert result.code != 0
    assert {name: (run / name).read_bytes() for name in kept} == kept  # finished, as before the resume
    assert not list(run.glob(".*before-resume*"))


@pytest.mark.parametrize(
    "change, needle",
    [("seed=7", "seed=42"), ("task.data.val_fraction=0.2", "task.data.val_fraction=0.1")],
)
def test_a_resume_with_another_seed_or_split_is_one_line(change, needle, tiny, tmp_path, run_cli):
    run = tmp_path / "run"
    argv = [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]
    assert run_cli(src.train, argv).code == 0
    before = (run / "results.json").read_bytes()
    last = run / "checkpoints" / "last.ckpt"
    result = run_cli(src.train, [*argv[:-1], "trainer.max_epochs=2", change, f"ckpt_path={last}"])
    result.assert_one_clear_line("was trained with", needle)
    assert (run / "results.json").read_bytes() == before


def test_a_baseline_into_a_finished_run_folder_is_refused_and_left_as_it_was(tiny, tmp_path, run_cli):
    import src.baseline

    run = tmp_path / "run"
    assert run_cli(src.train, [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]).code == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    data_dir = next(o for o in tiny if o.startswith("paths.data_dir="))
    result = run_cli(src.baseline, ["task=names", data_dir, f"hydra.run.dir={run}"])
    result.assert_one_clear_line("holds another run")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_runs_started_in_the_same_second_get_two_folders(tiny, tmp_path, run_cli, monkeypatch):
    """Hydra's ${now:...} at one frozen second (microseconds apart): two runs, two folders."""
    import datetime

    import hydra.core.utils

    ticks = iter(range(1, 100))

    class SameSecond(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 11, 23, 10, 0, 0, next(ticks))

    monkeypatch.setattr(hydra.core.utils, "datetime", SameSecond)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert run_cli(src.train, [*tiny, "trainer.max_epochs=1"]).code == 0
    runs = sorted((tmp_path / "outputs" / "names").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("2026-11-23_10-00-00") for r in runs), runs
    assert all((r / "results.json").is_file() for r in runs)


def test_a_sweep_job_with_a_bad_value_fails_in_one_line_and_the_table_lists_it(tiny, tmp_path, run_cli):
    sweep = tmp_path / "sweep"
    argv = ["-m", *tiny, "trainer.max_epochs=1", "model.hidden_size=8,0", f"hydra.sweep.dir={sweep}"]
    result = run_cli(src.train, argv)
    assert result.code == 2 and "Traceback" not in result.err + result.out, result.err
    assert "error: 1 job(s) failed" in result.err and "model.hidden_size=0" in result.err
    table = (sweep / "compare.md").read_text()
    assert table in result.out  # the table is printed, the failed job listed with its reason
    [failed] = [line for line in table.splitlines() if "| failed |" in line]
    assert "model.hidden_size=0 cannot be used" in failed
    rows = table.split("\n#### ")[0].splitlines()  # the table; the statistics follow it
    assert sum("| gru | 1 |" in line for line in rows) == 1  # the good job's row


def test_a_reused_sweep_folder_is_refused(tiny, tmp_path, run_cli):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    run_cli(src.train, ["-m", *tiny, f"hydra.sweep.dir={sweep}"]).assert_one_clear_line("holds another sweep")


@pytest.fixture
def run_compare(capsys, monkeypatch):
    """`python -m src.compare argv...` in-process (its cli returns the exit status), with no logging
    handlers left by an earlier in-process Hydra run (they write to that run's closed capture)."""

    def run(argv: list[str]):
        monkeypatch.setattr(logging.root, "handlers", [])
        capsys.readouterr()
        code = src.compare.cli(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def finished_run(tiny, tmp_path, compose) -> Path:
    run = tmp_path / "finished"
    src.run.build.train(compose([*tiny, "trainer.max_epochs=1"], run))
    return run


@pytest.mark.parametrize(
    "write",
    [
        lambda run: (run / "results.json").write_text('{"task": "names", "model": "gru", "overr'),
        lambda run: (run / "results.json").write_text(""),
        lambda run: (run / "results.json").write_text("[]"),
        lambda run: (
            (run / "results.json").unlink(),
            (run / ".hydra").mkdir(),
            (run / ".hydra/config.yaml").write_text("["),
        ),
    ],
    ids=["truncated-results", "empty-results", "results-not-a-record", "broken-hydra-config"],
)
def test_compare_lists_a_broken_run_and_still_prints_the_table(write, finished_run, tmp_path, run_compare):
    good, broken = tmp_path / "runs" / "good", tmp_path / "runs" / "broken"
    good.parent.mkdir()
    finished_run.rename(good)
    shutil.copytree(good, broken)
    write(broken)
    code, out, err = run_compare([str(tmp_path / "runs")])
    assert code == 0 and "Traceback" not in err, err
    assert "| failed |" in out and "(broken: broken " in out
    assert sum(line.startswith("| gru | 1 |") for line in out.split("\n#### ")[0].splitlines()) == 1


def test_compare_with_out_under_a_file_prints_the_table_then_one_line(
    finished_run, tmp_path, run_compare, one_clear_line
):
    (tmp_path / "file").write_text("")
    code, out, err = run_compare([str(finished_run), "--out", str(tmp_path / "file" / "out")])
    one_clear_line(code, err, "cannot save compare.md", "--out")
    assert "| gru | 1 |" in out


def test_compare_names_why_a_run_failed(tiny, tmp_path, run_cli, run_compare):
    run = tmp_path / "run"
    (Path(tiny[0].split("=", 1)[1]) / "names" / "Greek.txt").write_bytes(b"\xff\xfe\x00junk")
    assert run_cli(src.train, [*tiny, f"hydra.run.dir={run}"]).code == 2
    _, out, _ = run_compare([str(run)])
    assert "| failed |" in out and "Greek.txt:1: not UTF-8" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["binary", "hidden=0"], "hidden=0: give 1 to 4096"),
        (["binary", "hidden=-1"], "hidden=-1: give 1 to 4096"),
        (["binary", "lr=-1"], "lr=-1: give a number above 0"),
        (["binary", "steps=-5"], "steps=-5: give 1 to 10,000,000"),
        (["binary", "bits=100"], "bits=100: give 2 to 62"),
        (["dinos", "lr=nan"], "lr=nan: give a number above 0"),
    ],
)
def test_scratch_refuses_values_it_cannot_use(argv, message):
    from src.errors import UserError
    from src.scratch.__main__ import main

    with pytest.raises(UserError, match=message):
        main(argv)


def test_ddp_with_a_batch_sampler_is_one_line_before_any_process_starts(tiny, tmp_path, run_cli):
    argv = [tiny[0], "task=hello", "trainer=ddp", "trainer.accelerator=cpu", f"hydra.run.dir={tmp_path / 'run'}"]
    run_cli(src.train, argv).assert_one_clear_line("task.data.passes=5", "task.data.passes=1")


def test_a_non_utf8_pairs_file_is_one_line(tmp_path, run_cli):
    (tmp_path / "pairs.txt").write_bytes("king\tqueen\nman\tw\xf6man\n".encode("latin-1"))
    argv = ["task=pairs", f"paths.data_dir={tmp_path}", "task.data.file=pairs.txt", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line("pairs.txt:2: not UTF-8")


def test_a_huge_line_in_the_words_file_is_refused_before_training(tmp_path, run_cli):
    words = [f"{a}{b}saurus" for a in "abcdefghijklmnopqrst" for b in "abcdefghijklmnopqrst"]
    (tmp_path / "dinos.txt").write_text("\n".join([*words[:3], "x" * 2_000_000, *words[3:]]) + "\n")
    argv = ["task=dinos", f"paths.data_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line("dinos.txt:4: a line of 2,000,000 characters", "at most 2,000")


def test_a_words_file_too_small_names_the_options_that_fix_it(tmp_path, run_cli):
    (tmp_path / "dinos.txt").write_text("\n".join(f"{a}{b}saurus" for a in "abcdefgh" for b in "abcdefgh") + "\n")
    argv = ["task=dinos", f"paths.data_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line("64 words cannot make", "task.data.val_size", "test_size")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, compose, make_data) -> dict[str, Path]:
    """Tiny names and pairs checkpoints (one epoch each)."""
    root = tmp_path_factory.mktemp("ckpts")
    data = make_data(root)
    found = {}
    for task in ("names", "pairs"):
        overrides = [f"task={task}", f"paths.data_dir={data}", "model.hidden_size=8", "trainer.max_epochs=1"]
        overrides += ["trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "trainer.log_every_n_steps=1"]
        found[task] = Path(src.run.build.train(compose(overrides, root / task))["best_ckpt"])
    return found


def test_predict_ckpt_may_name_a_run_folder_or_a_folder_of_runs(checkpoints, tmp_path, run_cli):
    """ckpt= a run folder (its best.ckpt), its checkpoints/ folder, or a folder of runs (the newest run
    with a checkpoint: `ckpt=outputs/names`): the same output as the file; a folder without one is one line."""
    import src.predict

    best = checkpoints["names"]
    run = best.parent.parent
    (tmp_path / "runs" / "empty_run").mkdir(parents=True)  # a failed run: no checkpoint, passed over
    shutil.copytree(checkpoints["pairs"].parent.parent, tmp_path / "runs" / "older")
    shutil.copytree(run, tmp_path / "runs" / "named" / "newer")  # a named run: one level deeper
    os.utime(tmp_path / "runs" / "older" / "checkpoints" / "best.ckpt", (1, 1))  # the pairs run is the older one
    wanted = run_cli(src.predict, [f"ckpt={best}", "input=Rossi"])
    assert wanted.code == 0 and "Rossi" in wanted.out
    for folder in (run, best.parent, tmp_path / "runs"):
        result = run_cli(src.predict, [f"ckpt={folder}", "input=Rossi"])
        assert (result.code, result.out) == (0, wanted.out), folder
        assert f"checkpoint: {best}" in result.err or f"checkpoint: {tmp_path}" in result.err
    result = run_cli(src.predict, [f"ckpt={tmp_path / 'runs' / 'empty_run'}", "input=Rossi"])
    result.assert_one_clear_line("is a folder with no run in it", "outputs/names")


def test_predict_reads_a_name_tab_label_file_by_its_first_column(checkpoints, tmp_path, run_cli):
    import src.predict

    (tmp_path / "labelled.txt").write_text("Nakamura\tJapanese\nRossi\tItalian\n")
    (tmp_path / "plain.txt").write_text("Nakamura\nRossi\n")
    labelled = run_cli(src.predict, [f"ckpt={checkpoints['names']}", f"input_file={tmp_path / 'labelled.txt'}"])
    plain = run_cli(src.predict, [f"ckpt={checkpoints['names']}", f"input_file={tmp_path / 'plain.txt'}"])
    assert labelled.code == plain.code == 0 and labelled.err == ""
    assert labelled.out == plain.out and plain.out.startswith("Nakamura\t")


def test_pairs_predict_lowercases_as_training_did(checkpoints, run_cli):
    import src.predict

    upper = run_cli(src.predict, [f"ckpt={checkpoints['pairs']}", "input=KING"])
    lower = run_cli(src.predict, [f"ckpt={checkpoints['pairs']}", "input=king"])
    assert upper.code == lower.code == 0 and "warning" not in upper.err, upper.err
    assert upper.out.split("\t")[1:] == lower.out.split("\t")[1:]


@pytest.mark.parametrize("drop", ["state_dict", "hyper_parameters"])
def test_predict_a_checkpoint_missing_its_weights_or_settings_is_one_line(drop, checkpoints, tmp_path, run_cli):
    import src.predict

    ckpt = torch.load(checkpoints["names"], weights_only=True)
    del ckpt[drop]
    torch.save(ckpt, tmp_path / "partial.ckpt")
    result = run_cli(src.predict, [f"ckpt={tmp_path / 'partial.ckpt'}", "input=Rossi"])
    result.assert_one_clear_line("is not a checkpoint of this project")


def test_predict_sizes_beyond_their_stated_limit_are_one_line(checkpoints, run_cli):
    """beam_size, num_samples and max_length have a stated limit, checked before anything is allocated
    (num_samples=10**7 asked for 7.9 GB and printed nothing in 120 s)."""
    import src.predict
    from src.tasks.base import int_up_to

    result = run_cli(src.predict, [f"ckpt={checkpoints['pairs']}", "input=abc", "beam_size=1000000"])
    result.assert_one_clear_line("beam_size=1000000: more than 1,000")
    with pytest.raises(ValueError, match="more than 100,000"):
        int_up_to(100_000)("10000000")
    assert int_up_to(100_000)("100000") == 100_000
    from src.tasks.language_model import CharLanguageModel

    assert CharLanguageModel.PREDICT_OPTIONS["num_samples"].parse("100") == 100
    with pytest.raises(ValueError, match="more than 100,000"):
        CharLanguageModel.PREDICT_OPTIONS["num_samples"].parse(10**7)


def test_predict_with_stdout_closed_says_so(checkpoints, monkeypatch, capsys):
    """`python -m src.predict ... >&-` exited 0 having printed nothing (print to a closed stdout is silent)."""
    import sys

    import src.predict

    monkeypatch.setattr(sys, "argv", ["src.predict", f"ckpt={checkpoints['names']}", "input=Rossi"])
    monkeypatch.setattr(sys, "stdout", None)
    assert src.predict.cli() == 2 and "standard output is closed" in capsys.readouterr().err


def test_ctrl_c_during_data_setup_is_one_line(tiny, tmp_path, run_cli, monkeypatch):
    """SIGINT while the data was read ended in a 46-line traceback; Lightning handles it only inside fit."""
    from src.data.names import NamesDataModule

    def interrupted(self, stage=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(NamesDataModule, "setup", interrupted)
    code, out, err = run_cli(src.train, [*tiny, f"hydra.run.dir={tmp_path / 'run'}"])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 130 and "Traceback" not in err, err
    assert lines == ["stopped by Ctrl-C before training started: nothing was trained; run the command again"], err
    assert not (tmp_path / "run" / "config.yaml").exists() and not (tmp_path / "run" / "results.json").exists()


def test_run_folders_that_cannot_be_made_are_one_line(tiny, tmp_path, run_cli, monkeypatch):
    """A 300-character folder name, a folder under /proc, a working directory the user cannot write
    in (the default outputs/ is made there): each one line before anything runs."""
    import os

    cases = [
        (f"hydra.run.dir={tmp_path / ('a' * 300)}", "a folder name of 300 characters"),
        ("hydra.run.dir=/proc/self/run", "/proc/self"),
    ]
    for override, needle in cases:
        run_cli(src.train, [*tiny, override]).assert_one_clear_line(needle)
    monkeypatch.chdir(tmp_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).resolve() != tmp_path and real_access(path, mode))
    run_cli(src.train, tiny).assert_one_clear_line(f"outputs: cannot write in {tmp_path}", "hydra.run.dir")
    run_cli(src.train, ["-m", *tiny]).assert_one_clear_line(f"cannot write in {tmp_path}", "hydra.sweep.dir")
    assert not (tmp_path / "outputs").exists()


def test_a_validation_interval_longer_than_an_epoch_is_one_line(tmp_path, run_cli):
    """binary validates every 50 steps: task.data.train_size=320 (10 batches) ended in Lightning's ValueError."""
    argv = ["task=binary", "task.data.train_size=320", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line(
        "trainer.val_check_interval=50 is more steps than an epoch has here (10 batches)",
        "trainer.val_check_interval=10",
    )
    fits = ["trainer.val_check_interval=10", "trainer.log_every_n_steps=5", f"hydra.run.dir={tmp_path / 'ok'}"]
    result = run_cli(src.train, [*argv[:-1], *fits])
    assert result.code == 0, result.err


def test_names_rows_that_collapse_when_cleaned_say_how_few_names_there_are(tmp_path, run_cli):
    rows = [f"Li{i}\tChinese" for i in range(30)] + [f"Kim{i}\tKorean" for i in range(30)]
    (tmp_path / "names.tsv").write_text("\n".join(rows) + "\n")
    argv = [f"paths.data_dir={tmp_path}", "task.data.path=names.tsv", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line("its 60 rows hold 2 distinct names once cleaned", "val_fraction")


def test_an_empty_language_file_is_one_line_not_a_vanished_label(tmp_path, run_cli):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "Italian.txt").write_text("\n".join(f"Rossi{chr(97 + i)}" for i in range(20)) + "\n")
    (folder / "Zulu.txt").write_text("\n\n")
    argv = [f"paths.data_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line(f"{folder / 'Zulu.txt'} has no names", "remove it")


def test_names_that_mostly_merge_when_cleaned_are_said(tmp_path, caplog):
    """Name0..Name199 become one name "Name" once digits are dropped: a warning says so (a few merges,
    as in the real data's 20 of 20,000, stay in the info line)."""
    from src.data.names import NamesDataModule

    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "A.txt").write_text("\n".join(f"Name{i}" for i in range(200)) + "\nAbe\nAda\n")
    module = NamesDataModule(str(tmp_path), "names", "grouped", 0.1, 0.1, 0, 8, 8, False)
    with caplog.at_level(logging.WARNING, logger="src.data.names"):
        rows, dropped = module.labelled_names()
    assert dropped["names merged with another once cleaned"] == 199
    assert "199 of 202 distinct names" in caplog.text and "digits" in caplog.text
    caplog.clear()
    (folder / "A.txt").write_text("\n".join(f"Name{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200)) + "\n")
    with caplog.at_level(logging.WARNING, logger="src.data.names"):
        NamesDataModule(str(tmp_path), "names", "grouped", 0.1, 0.1, 0, 8, 8, False).labelled_names()
    assert caplog.text == ""


def test_a_runaway_data_line_is_one_line_before_any_allocation(tmp_path, run_cli):
    """A 2,000,000-character line (a file without line breaks) padded a batch to 230 GB."""
    (tmp_path / "names.tsv").write_text("Rossi\tItalian\n" + "a" * 2_000_000 + "\tItalian\n")
    argv = [f"paths.data_dir={tmp_path}", "task.data.path=names.tsv", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line("names.tsv:2: a line of 2,000,008 characters", "at most 2,000")


def test_an_unreadable_names_folder_says_so(data_dir, tmp_path, run_cli, monkeypatch):
    import os

    names = data_dir / "names"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != names and real_access(path, mode))
    argv = [f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path / 'r'}"]
    run_cli(src.train, argv).assert_one_clear_line(f"cannot read the folder {names}")


def test_a_search_goes_on_past_a_failed_trial_and_lists_it(tiny, tmp_path, run_cli):
    """A failed trial scores the worst objective: Optuna goes on, and the table lists it as failed."""
    sweep = tmp_path / "search"
    argv = ["-m", "hparams_search=names_optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=1"]
    tiny = [o for o in tiny if not o.startswith("model.hidden_size=")]
    argv += [*tiny, "trainer.max_epochs=1", "model.hidden_size=choice(8,0)", f"hydra.sweep.dir={sweep}"]
    result = run_cli(src.train, argv)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    table = (sweep / "compare.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| gru |")]
    failed = [row for row in rows if "| failed |" in row]
    assert len(rows) == 4 and 0 < len(failed) < 4, table  # seed 1 samples both sizes
    assert all(("model.hidden_size=0 " in row) == (row in failed) for row in rows)
    wanted = "model.hidden_size=0 cannot be used; give a whole number from 1 to 65,536)"
    assert all(row.endswith(wanted) for row in failed)
    assert (sweep / "optimization_results.yaml").is_file()


def _edit(hp: dict, key: str, value) -> None:
    """hp[key] = value for a dotted key (model.hidden_size), as a crafted checkpoint would hold it."""
    *parents, last = key.split(".")
    for part in parents:
        hp = hp[part]
    hp[last] = value


CRAFTED = [  # (dotted key in hyper_parameters, value, words of the one line)
    ("model.hidden_size", 10**9, "do not build"),  # 10**9 units: built on the meta device, never allocated
    ("model.hidden_size", -5, "do not build"),
    ("model.cell", "foo", "do not build"),
    ("lr_schedule", "foo", "do not build"),
    ("class_balance", "foo", "do not build"),
    ("spec.labels", [f"L{i}" for i in range(10**6)], "do not fit"),  # 10**6 labels
    ("spec.labels", [], "do not build"),
    ("spec.kind", "nope", "do not build"),
]


@pytest.mark.parametrize("key, value, needle", CRAFTED, ids=[f"{k}-{str(v)[:12]}" for k, v, _ in CRAFTED])
def test_predict_a_checkpoint_with_crafted_settings_is_one_line(key, value, needle, checkpoints, tmp_path, run_cli):
    import src.predict

    ckpt = torch.load(checkpoints["names"], weights_only=True)
    _edit(ckpt["hyper_parameters"], key, value)
    torch.save(ckpt, tmp_path / "crafted.ckpt")
    result = run_cli(src.predict, [f"ckpt={tmp_path / 'crafted.ckpt'}", "input=Rossi"])
    result.assert_one_clear_line(needle)


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_a_seq2seq_checkpoint_whose_symbol_acc_is_not_true_or_false_is_one_line(value, checkpoints, tmp_path, run_cli):
    import src.predict

    ckpt = torch.load(checkpoints["pairs"], weights_only=True)
    ckpt["hyper_parameters"]["symbol_acc"] = value
    torch.save(ckpt, tmp_path / "crafted.ckpt")
    run_cli(src.predict, [f"ckpt={tmp_path / 'crafted.ckpt'}", "input=man"]).assert_one_clear_line(
        "do not build", "symbol_acc=", "use true or false"
    )


def test_a_seq2seq_checkpoint_from_before_symbol_acc_predicts_as_it_did(checkpoints, tmp_path, run_cli):
    import src.predict

    ckpt = torch.load(checkpoints["pairs"], weights_only=True)
    del ckpt["hyper_parameters"]["symbol_acc"]
    torch.save(ckpt, tmp_path / "older.ckpt")
    now = run_cli(src.predict, [f"ckpt={checkpoints['pairs']}", "input=man"])
    older = run_cli(src.predict, [f"ckpt={tmp_path / 'older.ckpt'}", "input=man"])
    assert older.code == now.code == 0, older.err
    assert older.out.splitlines()[-1] == now.out.splitlines()[-1]


def test_predict_a_checkpoint_with_nan_weights_is_one_line(checkpoints, tmp_path, run_cli):
    import src.predict

    ckpt = torch.load(checkpoints["names"], weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name] = torch.full_like(ckpt["state_dict"][name], float("nan"))
    torch.save(ckpt, tmp_path / "nan.ckpt")
    run_cli(src.predict, [f"ckpt={tmp_path / 'nan.ckpt'}", "input=Rossi"]).assert_one_clear_line("NaN or infinite")


@pytest.mark.parametrize("kind", ["junk", "device"])
def test_predict_a_file_that_is_no_checkpoint_is_one_line(kind, tmp_path, run_cli):
    import src.predict

    path = Path("/dev/zero") if kind == "device" else tmp_path / "junk.ckpt"
    if kind == "junk":
        path.write_bytes(b"\x80\x02}q\x00")  # 5 bytes of a pickle's start
    result = run_cli(src.predict, [f"ckpt={path}", "input=Rossi"])
    result.assert_one_clear_line("not a regular file" if kind == "device" else "cannot be read")


@pytest.mark.parametrize("drop", ["pytorch-lightning_version", "hyper_parameters.model"])
def test_resuming_from_a_checkpoint_missing_what_a_resume_needs_is_one_line(drop, tiny, tmp_path, run_cli):
    run = tmp_path / "run"
    argv = [*tiny, f"hydra.run.dir={run}", "trainer.max_epochs=1"]
    assert run_cli(src.train, argv).code == 0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    if drop == "pytorch-lightning_version":
        del ckpt[drop]
    else:
        ckpt["hyper_parameters"] = {k: v for k, v in ckpt["hyper_parameters"].items() if k != "model"}
    torch.save(ckpt, tmp_path / "crafted.ckpt")
    crafted = tmp_path / "crafted.ckpt"
    result = run_cli(src.train, [*tiny, f"hydra.run.dir={tmp_path / 'again'}", f"ckpt_path={crafted}"])
    result.assert_one_clear_line("lacks what a resume needs")


def test_a_run_of_exactly_ten_steps_trains_under_the_one_cycle_schedule(tiny, tmp_path, run_cli):
    """Ten steps in all is a one-step warm-up, on which OneCycleLR divided by zero."""
    argv = [*tiny, f"hydra.run.dir={tmp_path / 'run'}", "trainer.max_epochs=10", "++trainer.limit_train_batches=1"]
    result = run_cli(src.train, argv)
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "run" / "results.json").read_text())["global_step"] >= 1


def test_an_interval_of_a_share_stays_within_0_and_1(finished_run, tmp_path, run_compare):
    """Three seeds scoring 1, 0, 1: the t-interval (-0.77 to 2.10) is cut to the share's range."""
    root = tmp_path / "seeds"
    for seed, acc in ((1, 1.0), (2, 0.0), (3, 1.0)):
        run = root / f"seed{seed}"
        shutil.copytree(finished_run, run)
        results = json.loads((run / "results.json").read_text())
        results["overrides"] = [o for o in results["overrides"] if not o.startswith("seed=")] + [f"seed={seed}"]
        results["test"]["test/acc"] = acc
        (run / "results.json").write_text(json.dumps(results))
    code, out, err = run_compare([str(root)])
    assert code == 0, err
    assert "0.6667 [0.0000, 1.0000]" in out


def test_a_three_cell_hello_sweep_ends_with_its_table(tmp_path, run_cli):
    """hello has one test example: its paired test over one item is p = 1, not scipy's error."""
    sweep = tmp_path / "hello"
    argv = [
        "-m",
        "task=hello",
        "model=rnn,lstm,gru",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_cli(src.train, argv)
    assert result.code == 0, result.err
    assert "verdict on test/loss" in (sweep / "compare.md").read_text()
    assert "| lstm | 1 |" in result.out and "warn" not in result.err.lower()


def test_a_sweep_whose_compare_fails_unexpectedly_says_so_and_exits_non_zero(tmp_path, run_cli, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in compare")

    monkeypatch.setattr(src.analysis.table, "compare", broken)
    sweep = tmp_path / "hello"
    argv = ["-m", "task=hello", "trainer.max_epochs=1", "trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep}"]
    result = run_cli(src.train, argv)
    assert result.code == 1
    assert "error: compare could not finish (RuntimeError: a bug in compare)" in result.err


def test_a_search_preset_without_multirun_is_one_line(tiny, tmp_path, run_cli):
    result = run_cli(src.train, [*tiny, "hparams_search=names_optuna", f"hydra.run.dir={tmp_path / 'run'}"])
    result.assert_one_clear_line("is a search over many runs: add -m")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("fair_cells.trials=0", "fair_cells.trials=0"),
        ("fair_cells.seeds=abc", "fair_cells.seeds=abc"),
        ("fair_cells.budget=-1", "fair_cells.budget=-1"),
        ("fair_cells.cells=[foo]", "fair_cells.cells=['foo']"),
        ("fair_cells.workers=0", "fair_cells.workers=0"),
        ("fair_cells.seeds=[]", "a list of seeds"),
    ],
)
def test_fair_cells_settings_it_cannot_use_are_one_line(setting, needle, data_dir, tmp_path, run_cli):
    import src.fair_cells

    argv = ["task=names", f"paths.data_dir={data_dir}", f"fair_cells.output_dir={tmp_path / 'fair'}", setting]
    run_cli(src.fair_cells, argv).assert_one_clear_line(needle)
    assert not (tmp_path / "fair").exists()


@pytest.mark.parametrize(
    "task, content",
    [
        ("pairs", "man\twoman\nking\tqueen\nboy\tgirl\n" * 4),
        (
            "dinos",
            "".join(f"{a}{b}{c}{d}saurus\n" for a in "bcdfgh" for b in "aeiou" for c in "lmnrst" for d in "aeiou"),
        ),
    ],
)
def test_a_relative_data_file_is_found_where_the_user_stands(task, content, data_dir, tmp_path, run_cli, monkeypatch):
    """task.data.file=mine.txt means ./mine.txt, as the shell and makemore's `-i names.txt` mean it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text(content)
    argv = [
        f"task={task}",
        f"paths.data_dir={data_dir}",
        "task.data.file=mine.txt",
        "+trainer.fast_dev_run=true",
        f"hydra.run.dir={tmp_path / 'run'}",
        "trainer.enable_progress_bar=false",
    ]
    result = run_cli(src.train, argv)
    assert result.code == 0, result.err  # it was looked up in the data folder: "does not exist"


def test_predict_an_input_with_a_line_break_is_one_input_a_line(checkpoints, run_cli):
    import src.predict

    both = run_cli(src.predict, [f"ckpt={checkpoints['names']}", "input=Smith\nJones"])
    one = run_cli(src.predict, [f"ckpt={checkpoints['names']}", "input=Jones"])
    assert both.code == one.code == 0, both.err
    lines = both.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Smith\t") and lines[1] == one.out.strip()
