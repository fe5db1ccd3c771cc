"""The run library: what the commands (src/train.py, src/baseline.py, src/fair_cells.py, ...) share.

- build.py: `train(cfg)`, `build_run`, `build_trainer`, `build`: a run from its config to results.json;
- checks.py: every option check of the command line and the config, each one line before anything runs;
- resolvers.py: the Hydra resolvers of conf/, registered by `register_resolvers()`;
- results.py: results.json, one typed record (`Results`), and the files written beside it;
- callbacks.py: every callback a run's Trainer (or a sweep) gets, by name;
- folder.py (run folders, checkpoints written whole), resume.py (resuming a run), console.py (the
  console and train.log), dashboard.py (TensorBoard), study.py (Optuna studies), budget.py (the model
  config as the core's arguments, parameter budgets), ckpt_args.py (predict's and inspect's arguments).
"""
