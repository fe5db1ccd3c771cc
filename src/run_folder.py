"""A run folder belongs to one run: claimed when the run starts, its checkpoints written whole, and
resumable after it is moved.

- `claim(run_dir, ckpt_path)`: refuses a folder that holds another run (its `config.yaml`), unless
  `ckpt_path` is one of that folder's own checkpoints (a resume); a resumed run's old `results.json` is
  removed, so a resume stopped again never looks finished.
- `link_latest(best)`: `outputs/latest.ckpt` points at the best checkpoint of the run that finished
  last, so the next command does not need its path.
- `RunCheckpoint`: Lightning's ModelCheckpoint, with each file written to `<name>.partial` and renamed
  (a full disk leaves the previous checkpoint, never a truncated one), and the paths it saved read
  relative to the folder it now lives in (a moved run folder resumes and tests its own best.ckpt).
"""

import os
from pathlib import Path

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
        """A run folder that was moved: the saved paths under the old checkpoints folder are read under
        this one when the file is there, and the rest of the state (best score, top-k) is kept."""
        saved_dir = state_dict.get("dirpath")
        if saved_dir and self.dirpath and saved_dir != self.dirpath:

            def moved(path):
                if not path or not Path(path).is_relative_to(saved_dir):
                    return path
                here = Path(self.dirpath) / Path(path).relative_to(saved_dir)
                return str(here) if here.exists() else path

            best = state_dict.get("best_model_path")
            # nothing saved yet (the last-checkpoint callback's state inside best.ckpt), or saved here
            if not best or Path(moved(best)).parent == Path(self.dirpath):
                state_dict = {
                    **state_dict,
                    "dirpath": self.dirpath,
                    "best_model_path": moved(state_dict.get("best_model_path")),
                    "kth_best_model_path": moved(state_dict.get("kth_best_model_path")),
                    "last_model_path": moved(state_dict.get("last_model_path")),
                    "best_k_models": {moved(k): v for k, v in state_dict.get("best_k_models", {}).items()},
                }
        super().load_state_dict(state_dict)
