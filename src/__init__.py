"""rnnlab: recurrent networks (RNN, LSTM, GRU) on real tasks with Lightning, Hydra and TensorBoard.

Layers, top to bottom (a module imports only from its own layer or the ones below it;
tests/test_tooling.py checks it):
- commands, one module each with `cli(argv) -> int`: `python -m src.train`, `src.predict`,
  `src.inspect`, `src.compare`, `src.baseline`, `src.fair_cells`, `src.scratch` (the NumPy course
  nets); no module imports a command;
- `run/`: the run library the commands share: building and running a run (build.py), option checks
  (checks.py), run folders, resume, console, dashboard, every callback (callbacks.py), results.json
  (results.py), studies, parameter budgets, the Hydra resolvers (resolvers.py);
- `baselines/`: models without recurrence (`python -m src.baseline` runs them), on the run library;
- `analysis/`: the compare table, the statistics and verdicts of a comparison, metrics by length;
- `tasks/` (LightningModules: loss, metrics, decoding, predict), `data/` (LightningDataModules,
  vocabularies, specs), `nn/` (plain torch.nn parts); `errors.py` (UserError), used by every layer.

In Python, `load(checkpoint)` gives the trained task:
`load("outputs/names/.../checkpoints/best.ckpt").predict(["Dostoevsky"])`.
"""

from pathlib import Path

from src.paths import CHECKOUT, CONF_DIR, default_data_dir

__all__ = ["CHECKOUT", "CONF_DIR", "default_data_dir", "load"]


def load(checkpoint: str | Path, device: str = "cpu"):
    """The task saved in `checkpoint` (a LightningModule in eval mode on `device`: cpu, cuda, cuda:N,
    mps); call its `predict(inputs, **options)`. Imported here on demand: `import src` stays cheap."""
    from src.tasks.checkpoint import find_checkpoint, load_module, parse_device, read_checkpoint

    return load_module(read_checkpoint(find_checkpoint(checkpoint)), parse_device(device))
