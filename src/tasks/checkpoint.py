"""Read this project's checkpoints safely (weights_only) and rebuild their modules, with clear errors."""

import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from src.errors import UserError
from src.paths import CONF_DIR
from src.tasks.base import CHECKPOINT_KEY, RecurrentTask
from src.tasks.registry import TASK_CLASSES, task_class


def local_file(path: str | Path) -> str:
    """`path` as the absolute local file name handed to Lightning: Lightning reads a path that starts
    with "http" as a URL (torch.hub's cache, loaded with weights_only=False), and a relative run folder
    may well be called http_runs/."""
    return str(Path(path).expanduser().resolve())


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file that `path` names for predict, inspect and `src.load`: a .ckpt file itself;
    a run folder's checkpoints/best.ckpt (else its last.ckpt), or that of a checkpoints/ folder; in a
    folder of runs at any depth (`outputs/names`, a sweep's folder) the newest run's, by the time its
    checkpoint was written. Anything else: as given, for read_checkpoint to say what is wrong with it."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return path

    def of_run(run: Path) -> Path | None:
        found = [folder / name for folder in (run / "checkpoints", run) for name in ("best.ckpt", "last.ckpt")]
        return next((p for p in found if p.is_file()), None)

    if own := of_run(path):
        return own
    try:  # runs one level down (outputs/names/<run>) or more (a named run, a sweep's jobs)
        runs = [ckpt for folder in path.rglob("checkpoints") if (ckpt := of_run(folder.parent))]
    except OSError:
        return path
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else path


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at `path`, loaded with weights_only=True; UserError if it is not ours."""
    path = Path(path).expanduser()
    if path.is_dir():
        names = sorted(p.name for p in path.glob("*.ckpt"))
        if names:
            raise UserError(f"checkpoint {path} is a folder; give a checkpoint file in it ({', '.join(names)})")
        raise UserError(
            f"checkpoint {path} is a folder with no run in it (no checkpoints/best.ckpt or last.ckpt in it or "
            "below); give a run folder, a task's folder such as outputs/names, or a .ckpt file"
        )
    if path.exists() and not path.is_file():
        raise UserError(f"checkpoint {path} is not a regular file (a device, a pipe?); give a .ckpt file")
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; runs keep theirs in outputs/<task>/<run>/checkpoints/")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"checkpoint {path} cannot be read ({first_line}); it is corrupt or truncated, pick another"
        ) from err
    if (
        not isinstance(ckpt, dict)
        or not isinstance(ckpt.get(CHECKPOINT_KEY), dict)
        or not isinstance(ckpt.get("hyper_parameters"), dict)
        or not isinstance(ckpt.get("state_dict"), dict)
    ):
        raise UserError(
            f"{path} is not a checkpoint of this project (no '{CHECKPOINT_KEY}' entry, hyper-parameters "
            "and weights); train one with src.train"
        )
    task, module = ckpt[CHECKPOINT_KEY].get("task"), ckpt[CHECKPOINT_KEY].get("module")
    tasks = sorted(p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml"))
    # the task name goes into a config composition (inspect) and folder names: one of ours, nothing else
    if not isinstance(task, str) or task not in tasks or not isinstance(module, str):
        raise UserError(
            f"{path} names task {str(task)[:60]!r}, not one of this project's ({', '.join(tasks)}); "
            "use a checkpoint written by src.train"
        )
    return ckpt


def checkpoint_task(ckpt: dict) -> str:
    return ckpt[CHECKPOINT_KEY]["task"]


def parse_device(text: str) -> torch.device:
    """The device= of predict and inspect: cpu (default), cuda, cuda:N or mps, one this machine has."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UserError(f"device={text} is not a device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise UserError(f"device={text} but torch sees {torch.cuda.device_count()} CUDA GPUs here; use device=cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={text} but this machine has no MPS device; use device=cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device={text}: use cpu, cuda, cuda:N or mps")
    return device


def load_module(ckpt: dict, device: torch.device | str = "cpu") -> RecurrentTask:
    """The LightningModule saved in `ckpt`, weights loaded, in eval mode, on `device`."""
    saved = ckpt[CHECKPOINT_KEY].get("module")
    cls = task_class(saved)
    if cls is None:  # never resolved as a path: a crafted name must not reach any callable
        raise UserError(
            f"the checkpoint names task class {str(saved)[:80]!r}, which is not one of this project's "
            f"({', '.join(TASK_CLASSES)}); use a checkpoint written by src.train"
        )
    # The hyper-parameters are plain data from a file anyone may have written: the module is first built
    # on the meta device (no memory), so a size of 10**9 allocates nothing, and it must hold exactly as
    # many weights as the file does before it is built for real. Any error a constructor raises on a
    # value is the checkpoint's, one line.
    weights = ckpt["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise UserError("the checkpoint's weights are not named tensors; use a checkpoint written by src.train")
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on what a crafted size makes (zero-element tensors)
            shape = cls(**{**cls.OLDER_CHECKPOINTS, **ckpt["hyper_parameters"]})
        built = sum(t.numel() for t in shape.state_dict().values())
    except Exception as err:  # noqa: BLE001 - a crafted value may fail anywhere in a constructor
        raise UserError(
            f"the checkpoint's hyper-parameters do not build {cls.__name__} ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else 'no message'}); "
            "use a checkpoint written by src.train, or retrain it with this version"
        ) from None
    saved_count = sum(t.numel() for t in weights.values())
    if built != saved_count:
        raise UserError(
            f"the checkpoint's weights do not fit {cls.__name__} as this version builds it (its settings "
            f"make {built:,} weights, the file holds {saved_count:,}); retrain it with this version"
        )
    module = cls(**{**cls.OLDER_CHECKPOINTS, **ckpt["hyper_parameters"]})
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:
        raise UserError(
            f"the checkpoint's weights do not fit {cls.__name__} as this version builds it "
            f"({str(err).splitlines()[0]}); retrain it with this version"
        ) from err
    bad = [name for name, t in weights.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise UserError(
            f"the checkpoint's weights hold NaN or infinite values ({bad[0]}; the run diverged?); "
            "use an earlier checkpoint of the run, or retrain with a lower task.module.lr"
        )
    return module.to(device).eval()
