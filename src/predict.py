"""Use a trained checkpoint: `python -m src.predict ckpt=PATH input=Dostoevsky`.

names: one line per input, the name then the top_k `Language:probability`, tab-separated.
The checkpoint carries its vocabulary, labels and model config, so this works from any directory.
"""

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from src import CONF_DIR
from src.errors import EXIT_USER_ERROR, UserError
from src.tasks.checkpoint import checkpoint_task, load_module, read_checkpoint
from src.tasks.classification import SequenceClassifier


def read_inputs(cfg: DictConfig) -> list[tuple[str, str]]:
    """(where, text) pairs: where is 'input' or 'FILE:LINE', for error messages."""
    if (cfg.input is None) == (cfg.input_file is None):
        raise UserError("give one of input=TEXT or input_file=PATH (one input a line)")
    if cfg.input is not None:
        return [("input", str(cfg.input))]
    path = Path(cfg.input_file).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(
            f"cannot read input_file {path} ({getattr(err, 'strerror', None) or err}); give a UTF-8 text file"
        ) from err
    inputs = [(f"{path}:{i}", line.strip()) for i, line in enumerate(lines, start=1) if line.strip()]
    if not inputs:
        raise UserError(f"input_file {path} has no non-empty lines")
    return inputs


def predict_names(module: SequenceClassifier, inputs: list[tuple[str, str]], top_k: int) -> list[str]:
    if top_k < 1:
        raise UserError(f"top_k={top_k}; give a number of languages of at least 1")
    names = []
    for where, text in inputs:
        name, dropped = module.vocab.clean(text.strip())
        if not any(ch.isalpha() for ch in name):
            raise UserError(f"{where}: {text!r} has no letters of the alphabet (a-z, A-Z, accents folded); give a name")
        if dropped:
            print(f"warning: {where}: ignored {dropped!r} (not in the alphabet)", file=sys.stderr)
        names.append(name)
    ranked = module.classify(names, top_k)
    return [
        "\t".join([text] + [f"{label}:{p:.3f}" for label, p in row])
        for (_, text), row in zip(inputs, ranked, strict=True)
    ]


def predict(cfg: DictConfig) -> list[str]:
    """The output lines for cfg.input / cfg.input_file from the checkpoint cfg.ckpt."""
    if not cfg.ckpt:
        raise UserError("say which checkpoint: ckpt=outputs/<task>/<run>/checkpoints/best.ckpt")
    ckpt = read_checkpoint(cfg.ckpt)
    task = checkpoint_task(ckpt)
    if cfg.expect_task and cfg.expect_task != task:
        raise UserError(
            f"{cfg.ckpt} is a {task} checkpoint, not {cfg.expect_task}; pick a {cfg.expect_task} checkpoint"
        )
    inputs = read_inputs(cfg)
    module = load_module(ckpt)
    if isinstance(module, SequenceClassifier):
        return predict_names(module, inputs, cfg.top_k)
    raise UserError(f"{cfg.ckpt} is a {task} checkpoint, which src.predict cannot use yet")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        lines = predict(cfg)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
