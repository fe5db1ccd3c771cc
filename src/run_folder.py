"""A run folder belongs to one run: claimed when the run starts, its checkpoints written whole, and
resumable after it is moved.

- `claim(run_dir, ckpt_path)`: refuses a folder that holds another run (its `config.yaml`), unless
  `ckpt_path` is one of that folder's own checkpoints (a resume); a resumed run's old `results.json` is
  removed, so a resume stopped again never looks finished.
- `requeued(run_dir, config_text)`: a cluster job requeued after a time limit or a preemption finds
  its own folder and resumes it from checkpoints/last.ckpt.
- `link_latest(best)`: `outputs/latest.ckpt` points at the best checkpoint of the run that finished
  last, so the next command does not need its path.
- `RunCheckpoint`: Lightning's ModelCheckpoint, with each file written to `<name>.partial` and renamed
  (a full disk leaves the previous checkpoint, never a truncated one), and the paths it saved read
  relative to the folder it now lives in (a moved run folder resumes and tests its own best.ckpt).
"""

import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from src.errors import UserError

# written by train() when a run starts: the mark of a folder that holds a run
RUN_MARK = "config.yaml"


def claim(run_dir: Path, ckpt_path: str | None, config_text: str) -> None:
    """Write the run's config.yaml into `run_dir`, refusing a folder that holds another run.

    The config is created exclusively (O_EXCL), so of two runs started into one folder at once one
    gets it and the other is refused."""
    check_free(run_dir, ckpt_path)
    mark = run_dir / RUN_MARK
    run_dir.mkdir(parents=True, exist_ok=True)
    if mark.exists():  # resuming this folder's run: it is not finished until it writes results.json again
        (run_dir / "results.json").unlink(missing_ok=True)
        mark.write_text(config_text)
        return
    try:
        with open(mark, "x") as file:
            file.write(config_text)
    except FileExistsError:
        raise UserError(f"{run_dir} was claimed by another run that started at the same time; run again") from None


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
