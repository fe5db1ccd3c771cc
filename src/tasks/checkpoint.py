"""Read this project's checkpoints safely (weights_only) and rebuild their modules, with clear errors."""

import pickle
import zipfile
from pathlib import Path

import torch
from hydra.utils import get_class

from src.errors import UserError
from src.tasks.base import CHECKPOINT_KEY, RecurrentTask


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at `path`, loaded with weights_only=True; UserError if it is not ours."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; runs keep theirs in outputs/<task>/<run>/checkpoints/")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"checkpoint {path} cannot be read ({first_line}); it is corrupt or truncated, pick another"
        ) from err
    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt or "hyper_parameters" not in ckpt:
        raise UserError(
            f"{path} is not a checkpoint of this project (no '{CHECKPOINT_KEY}' entry); train one with src.train"
        )
    return ckpt


def checkpoint_task(ckpt: dict) -> str:
    return ckpt[CHECKPOINT_KEY]["task"]


def load_module(ckpt: dict) -> RecurrentTask:
    """The LightningModule saved in `ckpt`, weights loaded, in eval mode, on the CPU."""
    path = ckpt[CHECKPOINT_KEY]["module"]
    if not path.startswith("src.tasks."):
        raise UserError(f"checkpoint names module {path}, which is not one of this project's tasks")
    module = get_class(path)(**ckpt["hyper_parameters"])
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise UserError(
            f"the checkpoint's weights do not fit {path.rsplit('.', 1)[-1]} as this version builds it "
            f"({str(err).splitlines()[0]}); retrain it with this version"
        ) from err
    return module.eval()
