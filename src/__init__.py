"""rnnlab: recurrent networks (RNN, LSTM, GRU) on real tasks with Lightning, Hydra and TensorBoard.

Layers, one folder each: `data/` (LightningDataModules and vocabularies), `nn/` (plain torch.nn
parts), `tasks/` (LightningModules: loss, metrics, decoding). Entry points: `python -m src.train`,
`python -m src.predict`.
"""
