"""What a run tells the person watching it, on the console and in `<run>/train.log`.

One callback, `ConsoleLog`, writes the run's story as plain log lines: where the run is, one line per
epoch (epoch, step, train loss, the monitored metric and its best, seconds), the test metrics, and
why a run stopped early and how to resume it. The lines go through `logging`, so Hydra's handlers
send each one to the console and to `train.log`. In a terminal the progress bar draws the epochs and
the epoch lines go to `train.log` only; with output to a file (`nohup`, a pipe) there is no bar and
the epoch lines are the console (`build_trainer` chooses).

A stop signal ends a run cleanly: SIGTERM (Lightning's own handling: the current batch finishes,
then the loop stops) and SIGHUP (a closed terminal, handled the same way, unless `nohup` asked to
ignore it) leave the last finished epoch in `checkpoints/last.ckpt`, say so in the log, and exit
with 128 + the signal's number, as a shell reports a process killed by it.
"""

import logging
import os
import shlex
import signal
import time
import warnings
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

# overrides that a resume command sets itself
RESUME_KEYS = ("ckpt_path=", "hydra.run.dir=", "study.")  # study.*: a study's trial reports no more


class FileOnly(logging.Filter):
    """On a console handler: drops the records marked `extra={"file_only": True}` (the epoch lines
    while a progress bar owns the terminal)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class DropTips(logging.Filter):
    """Lightning's advertising tip (litlogger) on every run: not about the user's run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_libraries() -> None:
    """What the libraries print that is not about the user's run and the project cannot fix at its
    source: the litlogger tip, Lightning 2.6's `_pytree` use that torch 2.13 deprecates, and Lightning's
    advice to raise `num_workers` (on machines of more than 2 cores, once per loader of every run): the
    data sets are tensors in memory, and `num_workers=0` is the measured choice (DESIGN.md, Speed)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(DropTips())
    deprecated = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
    warnings.filterwarnings("ignore", message=deprecated, category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")


def route_library_logs() -> None:
    """Send Lightning's messages and Python warnings through the root logger's handlers (Hydra's:
    console and train.log) instead of a bare stderr stream, so train.log holds them too.

    Only when the root logger has handlers: otherwise Lightning's own stream handler is all there is."""
    quiet_libraries()
    root = logging.getLogger()
    if not root.hasHandlers():
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        library = logging.getLogger(name)
        for handler in [h for h in library.handlers if type(h) is logging.StreamHandler]:
            library.removeHandler(handler)
        library.propagate = True
    logging.captureWarnings(True)  # warnings.warn -> the "py.warnings" logger
    for handler in root.handlers:
        console = isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
        if console and not any(isinstance(f, FileOnly) for f in handler.filters):
            handler.addFilter(FileOnly())


class ConsoleLog(L.Callback):
    """Plain lines a person can `tail -f`: the start, one line per epoch, the test metrics, and a
    stop signal with the resume command."""

    def __init__(self, monitor: str, run_dir: str):
        self.monitor = monitor
        self.run_dir = Path(run_dir).resolve()
        self.hung_up = False
        self.pending: str | None = None  # the last epoch's line, written once its train loss is logged
        self.epoch_started, self.step_started = 0.0, 0
        route_library_logs()

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Lightning has installed its SIGTERM handler by now and restores the previous handlers
        # (SIGHUP's included) when fit ends, so ours lives exactly as long as training.
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # SIG_IGN: started with nohup
            signal.signal(signal.SIGHUP, self.hang_up)
        self.watch_requeue(trainer)
        if not trainer.is_global_zero:
            return
        resumed = f", resumed at step {trainer.global_step}" if trainer.global_step else ""
        log.info(
            "training: up to %s epochs of %s steps, monitoring %s%s; run folder %s",
            trainer.max_epochs,
            trainer.num_training_batches,
            self.monitor,
            resumed,
            self.run_dir,
        )

    def watch_requeue(self, trainer: L.Trainer) -> None:
        """In a submitit job (hydra/launcher=slurm): submitit's signal before a SLURM time limit or on a
        preemption (SIGUSR2 unless SUBMITIT_PREEMPT_SIGNAL says otherwise) requeues the job, which then
        resumes this folder (src/run/folder.py `requeued`). The line says so in train.log first, with
        the command that resumes the run by hand; then submitit's own handler requeues."""
        if "SLURM_JOB_ID" not in os.environ and "SUBMITIT_LOCAL_JOB_ID" not in os.environ:
            return
        signum = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
        previous = signal.getsignal(signum) if signum is not None else None
        if not callable(previous):  # not submitit's job: nothing requeues it
            return

        def requeue(number: int, frame) -> None:
            if trainer.is_global_zero:
                self.write_pending(trainer)
                where = f"in epoch {trainer.current_epoch + 1} at step {trainer.global_step}"
                log.error(
                    "%s (time limit or preemption) %s: the job is requeued and resumes from its last checkpoint",
                    signal.Signals(number).name,
                    where,
                )
                last = last_checkpoint(trainer)
                if last is not None:
                    log.error("resume by hand: %s", resume_command(last, self.run_dir))
            previous(number, frame)

        signal.signal(signum, requeue)

    def hang_up(self, signum: int, frame) -> None:
        """SIGHUP: stop as Lightning stops on SIGTERM (its handler sets the flag the loops check)."""
        self.hung_up = True
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signum, frame)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.write_pending(trainer)
        self.epoch_started, self.step_started = time.perf_counter(), trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Callbacks run before the module's own on_train_epoch_end, which logs the epoch's train
        # loss: the line is written at the next epoch's start or when training ends. A resumed run
        # replays the end of the epoch its checkpoint was saved in, with no step: no second line.
        if trainer.global_step > self.step_started:
            self.pending = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        self.epoch_seconds = time.perf_counter() - self.epoch_started

    def write_pending(self, trainer: L.Trainer) -> None:
        if self.pending is None or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{self.pending} step {trainer.global_step}"]
        for key in ("train/loss_epoch", self.monitor):
            if key in metrics:
                parts.append(f"{key.removesuffix('_epoch')} {float(metrics[key]):.4f}")
        if f"{self.monitor}_best" in metrics:
            parts.append(f"best {float(metrics[f'{self.monitor}_best']):.4f}")
        parts.append(f"{self.epoch_seconds:.1f} s")
        # with a progress bar in the terminal, the line would tear the bar: train.log only
        log.info("  ".join(parts), extra={"file_only": trainer.progress_bar_callback is not None})
        self.pending = None

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.write_pending(trainer)

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        tested = trainer.ckpt_path or "the weights in memory"
        metrics = sorted((k, float(v)) for k, v in trainer.callback_metrics.items() if k.startswith("test/"))
        log.info("test of %s: %s", tested, "  ".join(f"{k} {v:.4f}" for k, v in metrics))

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            signum = signal.SIGHUP if self.hung_up else signal.SIGTERM
            # SIGTERMException is a SystemExit with no code: the process would exit 0, looking finished.
            # The same object is re-raised by Lightning, so its code is the process's exit status.
            exception.code = 128 + signum
            why = f"stopped by {signum.name} (exit status {exception.code})"
        elif isinstance(exception, KeyboardInterrupt):
            why = "interrupted (Ctrl-C, exit status 1)"
        else:
            return
        if not trainer.is_global_zero:
            return
        self.write_pending(trainer)
        where = f"in epoch {trainer.current_epoch + 1} at step {trainer.global_step}"
        log.error("%s %s; no results.json", why, where)
        last = last_checkpoint(trainer)
        if last is None:
            log.error("no epoch finished, so there is no checkpoint to resume from: run the command again")
            return
        log.error("last checkpoint (end of the last finished epoch): %s", last)
        log.error("resume: %s", resume_command(last, self.run_dir))


def last_checkpoint(trainer: L.Trainer) -> Path | None:
    callback = trainer.checkpoint_callback
    if callback is None or not callback.dirpath:
        return None
    path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
    return path.resolve() if path.is_file() else None


def resume_command(last: Path, folder: Path) -> str:
    """The command that continues this run in its own folder: its overrides, then the checkpoint."""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    if "experiment=fair_cells" in overrides:  # a run of src.fair_cells, which src.train refuses to start
        return f"run the python -m src.fair_cells command that started this comparison again (it resumes from {last})"
    kept = [o for o in overrides if not o.startswith(RESUME_KEYS)]
    args = [*kept, f"ckpt_path={last}", f"hydra.run.dir={folder}"]
    return " ".join(["python -m src.train", *map(shlex.quote, args)])
