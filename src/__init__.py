"""rnnlab: recurrent networks (RNN, LSTM, GRU) on real tasks with Lightning, Hydra and TensorBoard.

Layers, one folder each: `data/` (LightningDataModules and vocabularies), `nn/` (plain torch.nn
parts), `tasks/` (LightningModules: loss, metrics, decoding). Entry points: `python -m src.train`,
`python -m src.predict`.
"""

from pathlib import Path

# The Hydra configs sit beside the package (the project is installed editable: pip install -e .).
# An absolute path lets the entry points find them however they are started (python -m, tests).
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
