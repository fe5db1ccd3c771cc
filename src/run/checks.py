"""The config boundary of `python -m src.train`: every option a user can get wrong is checked here, as
one `error:` line, before anything is built or trained.

- `check_choices(argv)`: a config group's choice that does not exist (`model=foo`), named with the choices.
- `preflight(argv)`: before Hydra starts (and writes a run folder): the command line composes (an
  unknown key, a syntax error, a value of the wrong type, a sweep with no trials), the options hold
  values they can take (`check_config`), and `hydra.run.dir`/`hydra.sweep.dir` can be a run folder.
- `check_config(cfg)`: each run's values (a sweep's jobs too): whole numbers that must be positive,
  shares in [0, 1), learning rates above 0, a transformer's width a multiple of its heads, a GPU
  where `trainer=gpu` asks for one.
- `check_monitor(cfg, module)`: `task.monitor` is a metric the task logs (not found out after an epoch).
"""

import math
import os
import re
import shutil
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ValueType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.errors import EXIT_USER_ERROR, UserError
from src.paths import CONF_DIR
from src.tasks import LR_SCHEDULES


def whole(low: int):
    def check(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    return check, f"a whole number of at least {low}"


def positive_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def share(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


def whole_up_to(high: int):
    """1 to `high`: a stated limit on a size, checked before anything is allocated."""
    return (lambda v: WHOLE_1[0](v) and v <= high), f"a whole number from 1 to {high:,}"


WHOLE_0, WHOLE_1 = whole(0), whole(1)
POSITIVE = (positive_number, "a number above 0, e.g. 3e-3")
NON_NEGATIVE = (lambda v: share(v) or (positive_number(v)), "a number of at least 0")
SHARE = (share, "a share in [0, 1), e.g. 0.1")

# Lightning's precisions (transformer-engine needs its own package); torch's float32 matmul settings
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")
MATMUL_PRECISIONS = ("highest", "high", "medium")

# option -> (is it good, what to give instead); an option a task does not have is skipped
CHECKS = {
    "name": (
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v) is not None),
        "a folder name of letters, digits, '-', '_' and '.' (at most 100), e.g. name=cells",
    ),
    "seed": (lambda v: WHOLE_0[0](v) and v < 2**32, "a whole number from 0 to 4294967295"),
    "threads": (lambda v: v is None or WHOLE_1[0](v), "a whole number of at least 1, or null for torch's default"),
    "matmul_precision": (lambda v: v in MATMUL_PRECISIONS, f"one of {', '.join(MATMUL_PRECISIONS)}"),
    "trainer.max_epochs": WHOLE_1,
    "trainer.precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "trainer.deterministic": (lambda v: isinstance(v, bool) or v == "warn", "true, false or warn"),
    "trainer.devices": (
        lambda v: v == "auto" or v == -1 or WHOLE_1[0](v) or (isinstance(v, list) and bool(v)),
        "a number of devices of at least 1, a list of device ids, -1 (all) or auto",
    ),
    # +trainer.max_steps=0 or limit_train_batches=0 would test untrained weights as a finished run
    "trainer.max_steps": (lambda v: v == -1 or WHOLE_1[0](v), "-1 (no limit) or a whole number of at least 1"),
    "trainer.limit_train_batches": (
        lambda v: v is None or WHOLE_1[0](v) or (positive_number(v) and v <= 1),
        "a whole number of batches of at least 1, or a share in (0, 1]",
    ),
    "trainer.accumulate_grad_batches": WHOLE_1,
    "trainer.gradient_clip_val": (
        lambda v: v is None or (positive_number(v) or v == 0),
        "a number of at least 0, or null for no clipping",
    ),
    "task.monitor_mode": (lambda v: v in ("min", "max"), "min or max"),
    "task.data.train_size": whole_up_to(10_000_000),
    "task.data.val_size": whole_up_to(10_000_000),
    "task.data.test_size": whole_up_to(10_000_000),
    "task.data.passes": whole_up_to(10_000),
    "task.data.batch_size": WHOLE_1,
    "task.data.eval_batch_size": WHOLE_1,
    "task.data.bucketing": (lambda v: isinstance(v, bool), "true or false"),
    # binary and addition: operand widths in bits (an addition test of 1,000 bits is a 2,001-symbol
    # source and a 1,001-step decode)
    "task.data.train_bits": whole_up_to(1_000),
    "task.data.length_bits": (
        lambda v: isinstance(v, list) and all(WHOLE_1[0](n) and n <= 1_000 for n in v),
        "a list of operand widths from 1 to 1,000 bits, e.g. [64,128]",
    ),
    "task.module.lr": POSITIVE,
    "task.module.weight_decay": NON_NEGATIVE,
    "task.module.dropout": SHARE,
    "task.module.symbol_dropout": SHARE,
    "task.module.label_smoothing": SHARE,
    "task.module.lr_schedule": (lambda v: v in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
    "model.hidden_size": whole_up_to(65_536),
    "model.num_layers": whole_up_to(64),
    "model.dropout": SHARE,
    "model.bidirectional": (lambda v: isinstance(v, bool), "true or false"),
    "model.param_budget": (lambda v: v is None or WHOLE_1[0](v), "a whole number of parameters, or null"),
    # model=transformer's own (src/nn/transformer.py; the names here, as checks.py imports no torch)
    "model.heads": whole_up_to(1024),
    "model.positions": (lambda v: v in ("sinusoidal", "learned"), "sinusoidal or learned"),
    "model.max_positions": whole_up_to(1_000_000),
}


def check_config(cfg: DictConfig, devices_here: bool = True) -> None:
    """UserError naming the first option whose value it cannot take, and what to give instead. The
    devices a trainer asks for are checked only when the run is on this machine (`devices_here`): not
    for a SLURM sweep submitted from a login node without GPUs."""
    for key, (good, wanted) in CHECKS.items():
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=False, default=Missing)
        except OmegaConfBaseException as err:
            raise UserError(f"{key}: {one_line(err)}") from None
        if value is Missing:
            continue
        if isinstance(value, DictConfig | type(OmegaConf.create([]))):
            value = OmegaConf.to_container(value, resolve=True)
        if not good(value):
            raise UserError(f"{key}={value} cannot be used; give {wanted}")
    heads, hidden = OmegaConf.select(cfg, "model.heads"), OmegaConf.select(cfg, "model.hidden_size")
    if heads is not None and OmegaConf.select(cfg, "model.param_budget") is None and hidden % heads:
        fits = [h for h in (hidden - hidden % heads, hidden - hidden % heads + heads) if h > 0]
        raise UserError(
            f"model.hidden_size={hidden} is not a multiple of model.heads={heads} (every head gets the same "
            f"width); give model.hidden_size={' or '.join(map(str, fits))}, or other heads"
        )
    strategy, passes = (
        OmegaConf.select(cfg, "trainer.strategy", default=None),
        OmegaConf.select(cfg, "task.data.passes"),
    )
    if "ddp" in str(strategy) and isinstance(passes, int) and passes > 1:  # a batch sampler Lightning cannot shard
        raise UserError(f"task.data.passes={passes} cannot be split across DDP processes; add task.data.passes=1")
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    ddp_auto = "ddp" in str(strategy) and accelerator == "auto"
    if not devices_here or (accelerator not in ("gpu", "cuda", "mps") and not ddp_auto):
        return
    import torch  # only to ask for a device: a bad option elsewhere answers without torch's import

    if ddp_auto and not torch.cuda.is_available():  # Lightning would start one CPU process per device
        raise UserError(
            "trainer=ddp found no CUDA GPU here; for DDP over CPU processes say so: trainer.accelerator=cpu"
        )

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={accelerator} but torch sees no CUDA GPU here; use trainer=cpu (or trainer=default)"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UserError("trainer.accelerator=mps but this machine has no MPS device; use trainer=cpu")


class Missing:
    """An option this config does not have (OmegaConf.select's default)."""


def check_monitor(cfg: DictConfig, module) -> None:
    """`task.monitor` is one of the validation metrics `module` logs with a direction."""
    logged = [k for k, direction in module.directions.items() if direction is not None]
    if cfg.task.monitor not in logged:
        raise UserError(
            f"task.monitor={cfg.task.monitor} is not a metric this task logs; use one of {', '.join(logged)}"
        )


def check_val_interval(cfg: DictConfig, batches: int) -> None:
    """A validation every N steps (binary's trainer.val_check_interval=50) fits in an epoch of `batches`:
    Lightning finds out only when fit starts, in a ValueError of three sentences."""
    every = OmegaConf.select(cfg, "trainer.val_check_interval", default=None)
    if isinstance(every, int) and not isinstance(every, bool) and every > batches:
        raise UserError(
            f"trainer.val_check_interval={every} is more steps than an epoch has here ({batches} batches); give "
            f"trainer.val_check_interval={batches} or less, or more data (task.data.train_size)"
        )


def one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def preflight(argv: list[str]) -> None:
    """Before Hydra runs: the command line composes, its values pass check_config, and the run folder
    can be used; otherwise one line and exit status 2."""
    try:
        check_command_line(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def check_command_line(argv: list[str]) -> None:
    multirun = any(a in ("-m", "--multirun") for a in argv)
    args = [a for a in argv if "=" in a and not a.startswith("-")]
    search = next((a for a in args if a.startswith(("hparams_search=", "+hparams_search="))), None)
    if search and not multirun:  # without -m Hydra runs the search's config once, as a plain run
        raise UserError(f"{search} is a search over many runs: add -m (python -m src.train -m {search} ...)")
    parser, parsed = OverridesParser.create(), []
    for arg in args:
        try:
            parsed += parser.parse_overrides([arg])
        except HydraException as err:
            raise UserError(f"{arg}: {one_line(err)}; quote a value with spaces or symbols: 'key=\"a b\"'") from None
    overrides, swept = [], {}
    for override, arg in zip(parsed, args, strict=True):
        if override.is_sweep_override() and multirun:  # each job is checked as it starts; here its first
            if override.value_type == ValueType.INTERVAL_SWEEP:
                continue  # a search's interval(a, b): its samples are checked per job
            values = list(override.sweep_string_iterator())
            if not values:
                raise UserError(f"{arg} sweeps over no values; give at least one")
            swept[override.get_key_element()] = values
            overrides.append(f"{override.get_key_element()}={values[0]}")
        else:
            overrides.append(arg)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        message = one_line(err)
        if message.startswith("Could not override '"):
            key = message.split("'")[1]
            [arg] = [a for a in args if a.split("=", 1)[0] == key][:1] or [key]
            raise UserError(
                f"{arg}: {key} is not an option of this config (a typo?); add it with +{arg} only if meant"
            ) from None
        for plugin, extra in (("submitit", "cluster"), ("joblib", "cluster")):
            if f"hydra/launcher/{plugin}" in message:  # a launcher preset whose Hydra plugin is not installed
                raise UserError(
                    f"{message.rstrip('.')}: its launcher plugin is not installed; install the "
                    f"{extra} extra: .venv/bin/pip install -e '.[{extra}]'"
                ) from None
        raise UserError(message) from None
    if multirun:
        trials = OmegaConf.select(cfg, "hydra.sweeper.n_trials", default=None)
        if trials is not None and not WHOLE_1[0](trials):
            raise UserError(f"hydra.sweeper.n_trials={trials}; give {WHOLE_1[1]}")
    launcher = str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    check_config(cfg, devices_here=not (multirun and launcher.endswith("SlurmLauncher")))
    if multirun:
        check_sweep_launcher(cfg, swept)
        if launcher.endswith("SlurmLauncher") and shutil.which("srun") is None:
            raise UserError(
                "hydra/launcher=slurm needs a SLURM cluster (no srun on this machine); "
                "use hydra/launcher=workers here, or run the command on the cluster's login node"
            )
    folders = {"hydra.sweep.dir" if multirun else "hydra.run.dir": None}
    for arg in args:
        key, _, value = arg.partition("=")
        if key in ("hydra.run.dir", "hydra.sweep.dir"):
            folders[key] = value
    for key, value in folders.items():
        try:
            if value is not None:
                check_folder(key, Path(value).expanduser(), None if multirun else cfg.ckpt_path)
            else:  # the default, under outputs/ where the user stands
                check_writable("outputs", Path("outputs"), "run from a folder you can write in, or give " + key)
        except OSError as err:  # a name too long, a folder /proc will not make, ...
            raise UserError(f"{key}={value}: {err.strerror or err}; choose another folder") from None


def check_sweep_launcher(cfg: DictConfig, swept: dict[str, list[str]]) -> None:
    """A sweep of DDP runs needs a launcher that starts each job's processes itself (SLURM's srun):
    on this machine Lightning starts a DDP run's other processes by running its command line again,
    and a sweep's command line would start the whole sweep again in each of them."""
    ddp = "ddp" in str(OmegaConf.select(cfg, "trainer.strategy", default="")) or any(
        "ddp" in value for key in ("trainer", "trainer.strategy") for value in swept.get(key, [])
    )
    launcher = str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    if ddp and not launcher.endswith("SlurmLauncher"):
        raise UserError(
            "trainer=ddp in a sweep (-m) on one machine would start the whole sweep again in every DDP "
            "process; run its jobs one at a time without -m, or sweep on SLURM (hydra/launcher=submitit_slurm)"
        )


def check_writable(what: str, folder: Path, todo: str) -> None:
    """`folder` can be made and written: its names fit the file system, and its nearest existing
    parent is a folder this user can write in."""
    if long := next((part for part in folder.parts if len(part.encode()) > 255), None):
        raise UserError(f"{what}: a folder name of {len(long)} characters, over the 255 a file system takes; {todo}")
    for parent in [folder, *folder.absolute().parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what}: {parent} is a file, not a folder; {todo}")
            if not os.access(parent, os.W_OK):
                raise UserError(f"{what}: cannot write in {parent.absolute()}; {todo}")
            return


def check_folder(key: str, folder: Path, ckpt_path: str | None) -> None:
    """`folder` can become a run (or sweep) folder: a folder of its own, no file in its way, writable,
    not another run's, not in use by a run still going. A run folder is then held by this process
    (src/run/folder.py `hold`), before Hydra writes in it."""
    here = Path.cwd().resolve()
    if folder.resolve() == here or folder.resolve() in here.parents:  # an empty value is "."
        raise UserError(
            f"{key}={'' if str(folder) == '.' else folder} is the folder you are in (or one above it); give a "
            f"folder of its own (or leave {key} out: a new one under outputs/)"
        )
    check_writable(f"{key}={folder}", folder, "choose a folder you can write in")
    from lightning.pytorch.utilities import rank_zero_only  # Lightning: only for a chosen run folder

    from src.run.folder import check_free, hold

    # another rank of a distributed run starts in its rank 0's folder: only rank 0 checks and holds it
    if key == "hydra.run.dir" and rank_zero_only.rank == 0:
        check_free(folder, ckpt_path)
        hold(folder)
    # a study's folder (src/run/study.py) is used again by the same command: it resumes the study
    if key == "hydra.sweep.dir" and (folder / "multirun.yaml").exists() and not (folder / "study.journal").exists():
        raise UserError(f"{folder} holds another sweep (its multirun.yaml); choose a new hydra.sweep.dir")


def check_choices(args: list[str]) -> None:
    """`model=foo` -> one line naming the choices, before Hydra's longer report (which also lists its
    search path). Sweep lists (`model=rnn,lstm`) are checked item by item."""
    for arg in args:
        group, sep, value = arg.partition("=")
        if not sep or group not in ("task", "model", "trainer", "experiment", "hparams_search"):
            continue
        choices = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
        unknown = [v for v in value.split(",") if v not in choices]
        if unknown:
            print(f"error: {group}={unknown[0]} is not a choice; use one of {', '.join(choices)}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
