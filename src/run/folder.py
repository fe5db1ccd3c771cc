"""A run folder belongs to one run: claimed when the run starts, its checkpoints written whole, and
resumable after it is moved.

- `hold(run_dir)`: the folder is this process's until it ends (a lock the system releases however the
  process ends): a second command into a folder whose run is still going (a resume started beside it,
  two runs into one `hydra.run.dir`) is refused before it writes anything there.
- `claim(run_dir, ckpt_path)`: refuses a folder that holds another run (its `config.yaml`), unless
  `ckpt_path` is one of that folder's own checkpoints (a resume). A resumed run's `results.json` and
  `config.yaml` are kept aside until it writes its first checkpoint (`settle`), so a resume that fails
  or stops before then leaves the finished run as it was (`restore`), and one stopped later never looks
  finished.
- `requeued(run_dir, config_text)`: a cluster job requeued after a time limit or a preemption finds
  its own folder and resumes it from checkpoints/last.ckpt.
- `link_latest(best)`: `outputs/latest.ckpt` points at the best checkpoint of the run that finished
  last, so the next command does not need its path.
- `RunCheckpoint`: Lightning's ModelCheckpoint, with each file written to `<name>.partial` and renamed
  (a full disk leaves the previous checkpoint, never a truncated one), and the paths it saved read
  relative to the folder it now lives in (a moved run folder resumes and tests its own best.ckpt).
"""

import fcntl
import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from src.errors import UserError

# written by train() when a run starts: the mark of a folder that holds a run
RUN_MARK = "config.yaml"
LOCK = ".run.lock"  # held (flock) by the process whose run the folder is, while it runs
# what a resume keeps aside until its first checkpoint: the finished run's record and settings
ASIDE = {"results.json": ".results.before-resume.json", RUN_MARK: ".config.before-resume.yaml"}
_held: dict[str, int] = {}  # folders this process holds: resolved path -> the lock file's descriptor


def hold(run_dir: Path) -> None:
    """Hold `run_dir` until `release` or the process's end; one UserError when another process holds it."""
    key = str(run_dir.resolve())
    if key in _held:
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        reason = err.strerror or str(err)
        raise UserError(f"cannot use {run_dir} as a run folder ({reason}); choose another folder") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UserError(
            f"{run_dir} is in use by a run that is still going; wait for it to end (or stop it), "
            "or choose another hydra.run.dir"
        ) from None
    _held[key] = fd


def release(run_dir: Path) -> None:
    """Let go of `run_dir` (a worker process that runs many runs holds each only while it runs)."""
    fd = _held.pop(str(run_dir.resolve()), None)
    if fd is not None:
        os.close(fd)


def claim(run_dir: Path, ckpt_path: str | None, config_text: str) -> None:
    """Write the run's config.yaml into `run_dir`, refusing a folder that holds another run.

    The folder is held first (`hold`), and the config is created exclusively (O_EXCL), so of two runs
    started into one folder at once one gets it and the other is refused."""
    hold(run_dir)
    check_free(run_dir, ckpt_path)
    mark = run_dir / RUN_MARK
    if mark.exists():  # resuming this folder's run: not finished until it writes results.json again
        for name, aside in ASIDE.items():
            found, kept = run_dir / name, run_dir / aside
            if found.is_file() and not found.is_symlink() and not kept.exists():
                os.replace(found, kept)  # (kept already: an earlier resume stopped before its checkpoint)
        (run_dir / "results.json").unlink(missing_ok=True)
        mark.write_text(config_text)
        return
    try:
        with open(mark, "x") as file:
            file.write(config_text)
    except FileExistsError:
        raise UserError(f"{run_dir} was claimed by another run that started at the same time; run again") from None


def settle(run_dir: Path) -> None:
    """A resumed run writes its first checkpoint: what its folder held before no longer describes it."""
    for aside in ASIDE.values():
        (run_dir / aside).unlink(missing_ok=True)


def restore(run_dir: Path) -> None:
    """A resume that failed or stopped before its first checkpoint: the folder's run is as it was (its
    checkpoints untouched), so its results.json and config.yaml go back."""
    for name, aside in ASIDE.items():
        kept = run_dir / aside
        if kept.is_file() and not kept.is_symlink():
            os.replace(kept, run_dir / name)


def link_latest(best: Path, outputs: Path = Path("outputs")) -> Path | None:
    """Point `outputs/latest.ckpt` at `best`, a run's best checkpoint, when the run lives under
    `outputs/` (replaced atomically); None for a run kept elsewhere (hydra.run.dir=...), whose
    outputs/ is not ours to touch. A link to the file, not to the run folder: TensorBoard follows
    folder links under `--logdir outputs` and would show the run twice."""
    best, outputs = best.resolve(), outputs.resolve()
    if outputs not in best.parents:
        return None
    latest, tmp = outputs / "latest.ckpt", outputs / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(best.relative_to(outputs))
    os.replace(tmp, latest)
    return latest


def requeued(run_dir: Path, config_text: str) -> Path | None:
    """In a cluster job that was requeued (a SLURM time limit or preemption, submitit's requeue), the
    job runs again into its own run folder: that folder holds this very run (the same config.yaml)
    and no results.json. Its checkpoints/last.ckpt to resume from, or None: not a requeued job's
    folder. A requeued job that stopped before its first checkpoint starts over in the folder (its
    config.yaml, the only file of it, is removed)."""
    in_cluster_job = "SLURM_JOB_ID" in os.environ or "SUBMITIT_LOCAL_JOB_ID" in os.environ
    mark = run_dir / RUN_MARK
    if not in_cluster_job or not mark.is_file() or (run_dir / "results.json").exists():
        return None
    import yaml

    def run_of(text: str):  # the run's settings; ckpt_path differs once the folder has been resumed, and
        config = yaml.safe_load(text)  # the hidden size is filled in from model.param_budget when it starts
        if not isinstance(config, dict):
            return None
        model = config.get("model")
        if isinstance(model, dict) and model.get("param_budget") is not None:
            config["model"] = {k: v for k, v in model.items() if k != "hidden_size"}
        return {k: v for k, v in config.items() if k != "ckpt_path"}

    try:
        if run_of(mark.read_text()) != run_of(config_text):
            return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file() and not last.is_symlink():
        return last
    if os.environ.get("SLURM_PROCID", os.environ.get("LOCAL_RANK", "0")) == "0":  # one DDP rank clears it
        mark.unlink(missing_ok=True)
    return None


def check_free(run_dir: Path, ckpt_path: str | None) -> None:
    """UserError when `run_dir` holds another run and `ckpt_path` does not resume it."""
    if (run_dir / RUN_MARK).exists() and not resumes_from(run_dir, ckpt_path):
        raise UserError(
            f"{run_dir} holds another run (its {RUN_MARK}); a run folder belongs to one run: choose a new "
            f"hydra.run.dir, or resume that run with ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"
        )


def resumes_from(run_dir: Path, ckpt_path: str | None) -> bool:
    """Whether `ckpt_path` is a checkpoint inside `run_dir` (the run in that folder goes on)."""
    return bool(ckpt_path) and Path(ckpt_path).expanduser().resolve().is_relative_to(run_dir.resolve())


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose files appear whole or not at all, and whose saved paths follow the folder."""

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        partial = f"{filepath}.partial"
        if trainer.is_global_zero and self.dirpath:
            settle(Path(self.dirpath).parent)  # a resumed run: its checkpoints change from here on
        try:
            super()._save_checkpoint(trainer, partial)
            if trainer.is_global_zero:
                os.replace(partial, filepath)
        except OSError as err:
            Path(partial).unlink(missing_ok=True)
            raise UserError(
                f"cannot write checkpoint {filepath} ({err.strerror or err}); the previous checkpoints are "
                "intact: free some space (or fix the folder) and resume from checkpoints/last.ckpt"
            ) from err
        self._last_checkpoint_saved = filepath

    def _ModelCheckpoint__warn_if_dir_not_empty(self, dirpath) -> None:
        """Lightning warns at every fit whose checkpoints folder holds files. Here that is only ever a
        resume of the run in this folder (claim refuses another run's folder): nothing to warn about."""

    def load_state_dict(self, state_dict: dict) -> None:
        """The saved state is plain data from a file that may come from anyone: Lightning would remove
        its k-th best path when a better checkpoint comes, and test its best path. So each saved path is
        read as a file name in this run's checkpoints folder (where this callback writes them; a moved
        run folder resumes as it is), kept only when that file is there, and the scores are checked
        numbers; anything else (a path outside, `..`, a link, a URL, another type) is dropped."""
        worst = self.kth_value  # a fresh callback's: +-inf
        best_k = state_dict.get("best_k_models")
        super().load_state_dict(
            {
                "dirpath": self.dirpath,
                "monitor": self.monitor,
                "best_model_score": self.saved_score(state_dict.get("best_model_score")),
                "best_model_path": self.saved_path(state_dict.get("best_model_path")),
                "kth_best_model_path": self.saved_path(state_dict.get("kth_best_model_path")),
                "kth_value": self.saved_score(state_dict.get("kth_value"), default=self.kth_value),
                "last_model_path": self.saved_path(state_dict.get("last_model_path")),
                "best_k_models": {
                    path: score
                    for key, value in (best_k.items() if isinstance(best_k, dict) else ())
                    if (path := self.saved_path(key)) and (score := self.saved_score(value)) is not None
                },
            }
        )
        if self.best_model_path not in self.best_k_models:  # a best score without its file: nothing to keep
            self.best_model_score = None
        if self.kth_best_model_path not in self.best_k_models:
            self.kth_best_model_path, self.kth_value = "", worst

    def saved_path(self, saved) -> str:
        """`saved`'s file name in this callback's folder when it is a checkpoint file there, else ""."""
        if not isinstance(saved, str) or not saved or not self.dirpath:
            return ""
        name = saved.replace("\\", "/").rsplit("/", 1)[-1]
        here = Path(self.dirpath) / name
        if not name.endswith(".ckpt") or name.startswith(".") or here.is_symlink() or not here.is_file():
            return ""
        return str(here)

    @staticmethod
    def saved_score(saved, default: torch.Tensor | None = None) -> torch.Tensor | None:
        """A saved score as a one-number float tensor, else `default`."""
        if isinstance(saved, bool) or not isinstance(saved, int | float | torch.Tensor):
            return default
        value = torch.as_tensor(saved, dtype=torch.float32).detach()
        return value.reshape(()) if value.numel() == 1 and not value.isnan() else default
