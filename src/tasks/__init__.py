"""LightningModules, one per kind of problem: loss, metrics, decoding and the evidence they log.

Each takes `spec` (what the data decided: vocabulary, labels) and `model` (the recurrent core's
config) as plain data and saves both in its checkpoints, so a checkpoint stands on its own.
"""

# The learning-rate schedules every task offers (RecurrentTask.configure_optimizers builds them). Here,
# not in base.py, so the command line's checks (src/run/checks.py) read them without importing Lightning.
LR_SCHEDULES = ("onecycle", "constant")
