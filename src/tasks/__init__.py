"""LightningModules, one per kind of problem: loss, metrics, decoding and the evidence they log.

Each takes `spec` (what the data decided: vocabulary, labels) and `model` (the recurrent core's
config) as plain data and saves both in its checkpoints, so a checkpoint stands on its own.
"""
