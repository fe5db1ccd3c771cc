"""Use a trained checkpoint.

    python -m src.predict ckpt=PATH input=Dostoevsky          # names: name, then top_k Language:probability
    python -m src.predict ckpt=PATH num_samples=20 prefix=tyr  # dinos: one generated name a line
    python -m src.predict ckpt=PATH input="i am cold ." beam_size=5 attention_plot=att.png  # translate, pairs

The checkpoint carries its vocabulary, labels and model config, so this works from any directory.
"""

import sys
from pathlib import Path

import hydra
import torch
from matplotlib.backend_bases import FigureCanvasBase
from omegaconf import DictConfig

from src import CONF_DIR
from src.errors import EXIT_USER_ERROR, UserError
from src.tasks.checkpoint import checkpoint_task, load_module, read_checkpoint
from src.tasks.classification import SequenceClassifier
from src.tasks.language_model import CharLanguageModel
from src.tasks.seq2seq import Seq2Seq, attention_figure

NAMES_OPTIONS, SAMPLING_OPTIONS = ("input", "input_file"), ("num_samples",)
SEQ2SEQ_OPTIONS = ("beam_size", "attention_plot")


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


def predict_names(module: SequenceClassifier, inputs: list[tuple[str, str]], top_k: int | None) -> list[str]:
    top_k = 3 if top_k is None else top_k
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
    module = load_module(ckpt)
    if not isinstance(module, Seq2Seq):
        refuse(cfg, SEQ2SEQ_OPTIONS, task, "beam_size= and attention_plot= decode with a translate or pairs checkpoint")
    if isinstance(module, SequenceClassifier):
        refuse(cfg, SAMPLING_OPTIONS, task, "num_samples= generates names from a dinos checkpoint")
        return predict_names(module, read_inputs(cfg), cfg.top_k)
    if isinstance(module, CharLanguageModel):
        refuse(cfg, NAMES_OPTIONS, task, "input= and input_file= classify names with a names checkpoint")
        return sample_names(module, cfg)
    if isinstance(module, Seq2Seq):
        refuse(cfg, SAMPLING_OPTIONS + ("top_k",), task, "num_samples= and top_k= apply to dinos and names checkpoints")
        return predict_seq2seq(module, read_inputs(cfg), cfg)
    raise UserError(f"{cfg.ckpt} is a {task} checkpoint, which src.predict cannot use yet")


def predict_seq2seq(module: Seq2Seq, inputs: list[tuple[str, str]], cfg: DictConfig) -> list[str]:
    """`source<TAB>output` per input; words outside the training vocabulary are read as <unk>
    with a warning; attention_plot writes the attention of every input to one image."""
    beam_size = module.beam_size if cfg.beam_size is None else int(cfg.beam_size)
    if beam_size < 1:
        raise UserError(f"beam_size={beam_size}; use 1 (greedy) or more")
    plot = Path(cfg.attention_plot).expanduser() if cfg.attention_plot else None
    if plot is not None and module.net.attention is None:
        raise UserError(f"{cfg.ckpt} was trained with attention=none: there is no attention to plot")
    if plot is not None and not plot.parent.is_dir():
        raise UserError(f"attention_plot={cfg.attention_plot}: folder {plot.parent} does not exist; create it first")
    if plot is not None and plot.suffix[1:].lower() not in FigureCanvasBase.get_supported_filetypes():
        raise UserError(f"attention_plot={cfg.attention_plot}: not an image type matplotlib writes; use .png or .svg")
    texts = []
    for where, text in inputs:
        tokens = module.source_tokens(text)
        if not tokens:
            kind = "a sentence" if module.joiner else "a word"
            raise UserError(f"{where}: {text!r} is empty once normalised as the training data; give {kind}")
        unknown = module.encode_source(text)[1]
        if unknown:
            print(f"warning: {where}: {' '.join(unknown)!r} not in the training vocabulary, read as <unk>",
                  file=sys.stderr)  # fmt: skip
        texts.append(text)
    hyps = module.translate(texts, beam_size)
    if plot is not None:
        seen = lambda t: [w if w in module.src_ids else "<unk>" for w in module.source_tokens(t)]  # noqa: E731
        fig = attention_figure([(seen(t), module.tokens(h.ids), h.weights) for t, h in zip(texts, hyps, strict=True)])
        try:
            fig.savefig(plot)
        except OSError as err:
            raise UserError(f"cannot write attention_plot={cfg.attention_plot} ({err.strerror or err})") from err
        print(f"attention of {len(texts)} input(s) written to {plot}", file=sys.stderr)
    return [f"{text}\t{module.decode(h.ids)}" for text, h in zip(texts, hyps, strict=True)]


def refuse(cfg: DictConfig, keys: tuple[str, ...], task: str, why: str) -> None:
    given = [k for k in keys if cfg.get(k) is not None]
    if given:
        raise UserError(f"{cfg.ckpt} is a {task} checkpoint: {given[0]}= does not apply ({why})")


def sample_names(module: CharLanguageModel, cfg: DictConfig) -> list[str]:
    num = 10 if cfg.num_samples is None else cfg.num_samples
    if num < 1:
        raise UserError(f"num_samples={num}; ask for at least 1 name")
    if cfg.temperature < 0:
        raise UserError(f"temperature={cfg.temperature}; use 0 (greedy) or a positive number")
    if cfg.top_k is not None and cfg.top_k < 1:
        raise UserError(f"top_k={cfg.top_k}; use at least 1, or leave it out to sample from every letter")
    prefix = str(cfg.prefix or "").strip().lower()
    outside = sorted({ch for ch in prefix if ch not in module.symbols[1:]})
    if outside:
        raise UserError(f"prefix={cfg.prefix!r} has {''.join(outside)!r}, outside the model's letters a-z")
    if len(prefix) >= cfg.max_length:
        raise UserError(f"prefix={prefix!r} is already max_length={cfg.max_length} long; raise max_length")
    generator = torch.Generator().manual_seed(int(cfg.seed))
    return module.sample(num, cfg.temperature, cfg.top_k, prefix, cfg.max_length, generator)


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
