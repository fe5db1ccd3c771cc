"""The Hydra resolvers the configs use (`${run_suffix:...}`, `${runs_root:...}`, `${named:...}`,
`${fit_name:...}`, `${default_data_dir:}` in conf/train.yaml and conf/baseline.yaml), registered by
`register_resolvers()`: every command calls it before it composes a config, and so do the tests and
benchmarks that compose one. Registering is explicit, never a side effect of importing a module.
"""

import hashlib

from omegaconf import OmegaConf

from src.paths import default_data_dir


def fit_name(text: str, limit: int = 180) -> str:
    """One folder name, under the file system's 255-byte limit: a "/" in an override's value (a path:
    task.data.file=names/Italian.txt) becomes "_", so it never nests; long names are cut and keep a
    hash, so two long override sets that share a beginning still get different folders."""
    text = text.replace("/", "_")
    if len(text) <= limit:
        return text
    return f"{text[: limit - 9]}_{hashlib.sha1(text.encode()).hexdigest()[:8]}"  # "~" would need quoting in ckpt=


def run_suffix(overrides: str, cell: str | None = None, task: str | None = None) -> str:
    """ "_model.hidden_size-64" after the cell in a run folder's name, or nothing when there are no other
    overrides: `model-gru` and `task-names` are left out, the cell and the task folder say them already
    (and TensorBoard cut the HPARAMS name `gru_model-gru+t...` before the overrides that tell runs apart)."""
    said = {f"model-{cell}", f"task-{task}"}
    kept = "+".join(item for item in overrides.split("+") if item and item not in said) if overrides else ""
    return fit_name(f"_{kept}") if kept else ""


def runs_root(trainer: str | None) -> str:
    """outputs/, where every run goes, or outputs-debug/ for trainer=debug: smoke runs stay out of the
    dashboard of the real ones (`tensorboard --logdir outputs`)."""
    return "outputs-debug" if trainer == "debug" else "outputs"


def named(name: str | None) -> str:
    """`<name>/` for a run or sweep given name=: the folder it goes under (one folder name, checked)."""
    return f"{name}/" if name else ""


def register_resolvers() -> None:
    """Make the resolvers above known to OmegaConf (once per process; a second call changes nothing)."""
    for name, resolver in (
        ("run_suffix", run_suffix),
        ("runs_root", runs_root),
        ("named", named),
        ("fit_name", fit_name),
        ("default_data_dir", default_data_dir),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
