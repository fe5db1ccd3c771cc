"""rnnlab: recurrent networks (RNN, LSTM, GRU) on real tasks with Lightning, Hydra and TensorBoard.

Layers, one folder each: `data/` (LightningDataModules, vocabularies, specs), `nn/` (plain torch.nn
parts), `tasks/` (LightningModules: loss, metrics, decoding, predict). Entry points: `python -m
src.train`, `python -m src.predict`, `python -m src.compare`, `python -m src.inspect`. In Python,
`load(checkpoint)` gives the trained task: `load("outputs/names/.../checkpoints/best.ckpt").predict(["Dostoevsky"])`.
"""

from pathlib import Path

# The Hydra configs sit beside the package (the project is installed editable: pip install -e .).
# An absolute path lets the entry points find them however they are started (python -m, tests).
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def load(checkpoint: str | Path):
    """The task saved in `checkpoint` (a LightningModule in eval mode on the CPU); call its
    `predict(inputs, **options)`. Imported here on demand: `import src` stays cheap."""
    from src.tasks.checkpoint import load_module, read_checkpoint

    return load_module(read_checkpoint(checkpoint))
