"""Look inside a trained checkpoint's cells: draw its states, gates, gate saturation and gradient flow
(a Transformer's: its attention maps).

    python -m src.inspect ckpt=PATH input=Dostoevsky                          # names
    python -m src.inspect ckpt=PATH input="1234567 + 7654321"                 # binary: also the carry unit
    python -m src.inspect ckpt=RNN,LSTM,GRU input=tyrannosaurusrex out=figs   # three cells, one gradient plot

Writes PNG files to `out=` (default: <run>/inspect/ beside the checkpoint's checkpoints/ folder) and
prints their paths: states_<k>.png and gates_<k>.png for input k, saturation.png over a data split
(`split=val|test|none`), carry.png (binary), gradient_flow.png (the longest input); for a Transformer
only attention_<k>.png (each layer's heads, queries down and keys across). With several checkpoints,
each one's figures go to a folder of its own under out= and gradient_flow.png holds all.
"""

import sys
import tempfile
from pathlib import Path

from src.errors import EXIT_USER_ERROR, UserError
from src.paths import default_data_dir
from src.run.ckpt_args import CKPT_FORMS, parse_args, read_inputs, set_threads

COMMON = {
    "ckpt": "a checkpoint written by src.train (a .ckpt file, a run folder, or a folder of runs such as outputs/names: "
    "the newest), or several joined by commas (their gradient flow on one plot)",
    "input": "one input, as src.predict takes it (a name, a word, '39 + 17', a sentence)",
    "input_file": "a UTF-8 file of inputs, one a line",
    "out": "the folder to write the figures to (default: <run>/inspect/)",
    "split": "the data split of the saturation histograms (and the binary carry unit): val, test or none (default val)",
    "max_items": "items of the split to read (default 1000)",
    "data_dir": "the data folder (default: $RNNLAB_DATA_DIR, else ../shared/data beside the checkout, else data/)",
    "language": "the language a namegen checkpoint generates for",
    "threads": "torch CPU threads (default 1)",
    "device": "where the model runs: cpu (default), cuda, cuda:N or mps",
}
USAGE = "usage: python -m src.inspect ckpt=PATH[,PATH...] input=TEXT | input_file=PATH [out=DIR] [split=val] ..."
SPLITS = ("val", "test", "none")


def default_out(ckpt: Path) -> Path:
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run / "inspect"


def writable_folder(path: Path) -> Path:
    """`path`, created if needed; UserError when it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UserError(f"out={path} cannot be written ({err.strerror or err}); give a folder you can write") from None
    return path


PLAIN = (str, int, float, bool, type(None))


def saved_data_options(run_config: Path, defaults: dict) -> dict:
    """The run's own `task.data` values from its config.yaml, as plain data: a file that came with a
    run folder may come from anyone, so it is read without interpolation (yaml.safe_load), only the
    keys the project's conf/task has are taken (never `_target_`, never data_dir), and each value must
    be of its default's kind (a number, a string, a list of them); a path is kept under the data
    folder. Anything else is one UserError naming the file and the key."""
    import yaml

    try:
        config = yaml.safe_load(run_config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserError(f"{run_config} cannot be read ({str(err).splitlines()[0]}); give split=none") from None
    saved = config.get("task", {}) if isinstance(config, dict) else None
    saved = saved.get("data", {}) if isinstance(saved, dict) else None
    if not isinstance(saved, dict):
        raise UserError(f"{run_config} has no task.data mapping; it is not a run's config: give split=none")
    options = {}
    for key, value in saved.items():
        if not isinstance(key, str) or key.startswith("_") or key == "data_dir" or key not in defaults:
            continue
        default = defaults[key]
        if not plain_like(value, default) or (isinstance(value, str) and not inside_data_folder(value)):
            raise UserError(
                f"{run_config}: task.data.{key} is {str(value)[:60]!r}, not a plain value like {default!r}; "
                "fix that file, or give split=none"
            )
        options[key] = value
    return options


def plain_like(value, default) -> bool:
    """Whether `value` is plain data of `default`'s kind (an int where a float is; anything plain
    where the default is None; a list of plain scalars)."""
    if isinstance(value, list):
        return isinstance(default, list | type(None)) and all(isinstance(v, PLAIN) for v in value)
    if not isinstance(value, PLAIN):
        return False
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float) and (isinstance(default, float) or isinstance(value, int))
    return isinstance(value, type(default))


def inside_data_folder(text: str) -> bool:
    """A relative path with no `..` and no interpolation: it names a file under the data folder."""
    parts = Path(text).parts
    return not Path(text).is_absolute() and ".." not in parts and not text.startswith("~") and "${" not in text


def split_batches(task_name: str, ckpt: Path, task, split: str, data_dir: str):
    """The batches of `split` as the task's DataModule serves them, built from this project's
    conf/task/<task>.yaml with the run's own data settings (its config.yaml) when it has one."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf, open_dict

    from src.paths import CONF_DIR
    from src.run.build import build
    from src.run.resolvers import register_resolvers

    register_resolvers()  # conf/train.yaml's ${default_data_dir:} and the rest
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"task={task_name}", f"paths.data_dir={data_dir}"])
    run_config = default_out(ckpt).parent / "config.yaml"
    if run_config.is_file():
        with open_dict(cfg):
            cfg.task.data.update(saved_data_options(run_config, OmegaConf.to_container(cfg.task.data)))
    datamodule = build(cfg.task.data, "task.data")
    datamodule.prepare_data()
    datamodule.setup("fit")
    built, saved = datamodule.spec.to_dict(), task.spec.to_dict()
    differ = sorted(k for k in built.keys() | saved.keys() if k != "train_words" and built.get(k) != saved.get(k))
    if differ:  # the vocabulary, or other data settings the spec records (addition's test widths)
        raise UserError(
            f"the {split} data as {run_config if run_config.is_file() else 'conf/task'} builds it does "
            f"not match the checkpoint's data ({', '.join(differ)} differ); give data_dir= of its run, or split=none"
        )
    loader = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    return loader[0] if isinstance(loader, list) else loader


def inspect(args: dict[str, str]) -> list[Path]:
    """Write the figures for the command-line arguments `args` (see COMMON); return their paths."""
    from src.tasks import inspection as ins
    from src.tasks.checkpoint import checkpoint_task, find_checkpoint, load_module, parse_device, read_checkpoint

    unknown = [k for k in args if k not in COMMON]
    if unknown:
        raise UserError(f"{unknown[0]}= is not an option of src.inspect; use {', '.join(f'{k}=' for k in COMMON)}")
    if not args.get("ckpt"):
        raise UserError(f"say which checkpoint: {CKPT_FORMS}")
    split = args.get("split", "val")
    if split not in SPLITS:
        raise UserError(f"split={split}; use one of {', '.join(SPLITS)}")
    max_items = args.get("max_items", "1000")
    if not max_items.isdigit() or int(max_items) < 1:
        raise UserError(f"max_items={max_items}; give a whole number of at least 1")
    inputs = read_inputs(args)
    if not inputs:
        raise UserError("give what to read: input=TEXT or input_file=PATH (one input a line)")
    device = parse_device(args.get("device", "cpu"))
    paths = [find_checkpoint(p) for p in args["ckpt"].split(",") if p]
    loaded = []
    for path in paths:
        ckpt = read_checkpoint(path)
        loaded.append((path, checkpoint_task(ckpt), load_module(ckpt, device)))
    out = writable_folder(Path(args["out"]).expanduser() if args.get("out") else default_out(paths[0]))
    data_dir = args.get("data_dir") or default_data_dir()

    written, curves = [], []
    for k, (path, task_name, task) in enumerate(loaded, 1):
        cell = task.hparams.model["cell"]
        folder = out if len(loaded) == 1 else writable_folder(out / f"{k}_{task_name}_{cell}")
        encoded = [ins.encode_input(task, where, text, args.get("language")) for where, text in inputs]

        def save(fig, name: str, folder: Path = folder) -> None:
            target = folder / name
            try:
                fig.savefig(target, dpi=80)
            except OSError as err:
                raise UserError(
                    f"cannot write {target} ({err.strerror or err}); give out= a folder you can write"
                ) from None
            written.append(target)

        if not ins.replayable(task):  # a Transformer: its attention maps; no gates or state to replay
            print(f"{path}: {task_name} {cell}: {ins.NO_GATES}", file=sys.stderr)
            for i, ((_, text), (batch, symbols)) in enumerate(zip(inputs, encoded, strict=True), 1):
                maps = ins.attention(task, batch)
                save(
                    ins.attention_figure(maps, symbols, f"{task_name} {cell}: attention for {text!r}"),
                    f"attention_{i}.png",
                )
            continue
        for i, ((_, text), (batch, symbols)) in enumerate(zip(inputs, encoded, strict=True), 1):
            traced = ins.trace(task, batch)
            save(ins.states_figure(traced, symbols, f"{task_name} {cell}: states for {text!r}"), f"states_{i}.png")
            gates = ins.gates_figure(traced, symbols, f"{task_name} {cell}: gates for {text!r}")
            if gates is not None:
                save(gates, f"gates_{i}.png")
        probe = task.step_probe()  # binary: the carry
        if split != "none" and (cell != "rnn" or probe is not None):
            loader = split_batches(task_name, path, task, split, data_dir)
            if cell != "rnn":
                stats = ins.saturation(task, loader, int(max_items))
                save(
                    ins.saturation_figure(stats, f"{task_name} {cell}: gate saturation over {split}"), "saturation.png"
                )
            if probe is not None:
                unit = ins.probe_unit(task, loader, probe.values, int(max_items))
                batch, [symbols] = encoded[0]
                [(_, traces)] = ins.trace(task, batch)
                values = next(t for t in traces if t.name == unit[0]).values["hidden"][0, : len(symbols), unit[1]]
                truth = probe.values(batch.tokens[0].tolist())
                title = f"{task_name} {cell}: the {probe.name} unit on {inputs[0][1]!r}"
                figure = ins.probe_figure(values, truth, symbols, unit, title, probe.legend, probe.axis)
                save(figure, f"{probe.name}.png")
        longest = max(range(len(inputs)), key=lambda i: len(encoded[i][1][0]))
        norms, what = ins.gradient_norms(task, encoded[longest][0])
        curves.append((f"{cell} ({default_out(path).parent.name})", norms, what, task_name, cell))
        print(
            f"{path}: {task_name} {cell}, {len(norms)} steps of {inputs[longest][1]!r}: "
            + (
                f"gradient below 1e-3 of the last step's from distance {d}"
                if (d := ins.below(norms / norms[-1])) is not None
                else "gradient never below 1e-3"
            ),
            file=sys.stderr,
        )

    if not curves:  # every checkpoint a transformer
        return written
    tasks = ", ".join(sorted({c[3] for c in curves}))
    title = f"{tasks}: gradient flow, loss = {curves[0][2]}"
    distinct = len({c[4] for c in curves}) == len(curves)  # one curve per cell: the cell says which
    fig = ins.gradient_figure([(c[4] if distinct else c[0], c[1]) for c in curves], title)
    target = out / "gradient_flow.png"
    fig.savefig(target, dpi=80)
    written.append(target)
    return written


def cli(argv: list[str] | None = None) -> int:
    """`python -m src.inspect argv...`: the exit status."""
    try:
        args, wants_help = parse_args(sys.argv[1:] if argv is None else argv, USAGE)
        if wants_help:
            print("\n".join([__doc__.strip(), "", USAGE, ""] + [f"  {k}=  {v}" for k, v in COMMON.items()]))
            return 0
        set_threads(args)
        written = inspect(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    print("\n".join(str(p) for p in written), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
