"""Experiment tooling: the compare_cells preset, the Optuna search, the submitit launcher, a sweep
with a failing job, and TensorBoard serving a run (the slow ones start processes)."""

import ast
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

import src.train
from src.analysis.table import compare

# log_every_n_steps=1: the synthetic data is fewer batches than the default interval (Lightning warns)
TINY = [
    "model.hidden_size=8",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
]


def multirun(argv: list[str], monkeypatch) -> int:
    """`python -m src.train -m argv...` in-process; the exit status."""
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["src.train", "-m", *argv])
    try:
        return src.train.cli()
    except SystemExit as exit_:
        return exit_.code or 0


def test_compare_cells_preset_runs_nine_jobs_and_prints_the_table(data_dir, tmp_path, monkeypatch, capsys):
    sweep = tmp_path / "cells"
    argv = ["experiment=compare_cells", f"paths.data_dir={data_dir}", *TINY, f"hydra.sweep.dir={sweep}"]
    assert multirun(argv, monkeypatch) == 0
    assert len(list(sweep.glob("*/results.json"))) == 9
    out = capsys.readouterr().out
    table = out[out.index("### names") :]
    for cell in ("rnn", "lstm", "gru"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {cell} |"))
        assert "| 3 |" in row and "±" in row  # three seeds aggregated
    assert (sweep / "compare.md").is_file() and (sweep / "compare.png").is_file()


def test_optuna_search_tries_the_space_and_records_the_best(data_dir, tmp_path, monkeypatch):
    sweep = tmp_path / "search"
    argv = [
        "hparams_search=names_optuna",
        "hydra.sweeper.n_trials=3",
        f"paths.data_dir={data_dir}",
        *TINY[1:],
        f"hydra.sweep.dir={sweep}",
    ]
    assert multirun(argv, monkeypatch) == 0
    trials = sorted(sweep.glob("*/results.json"))
    assert len(trials) == 3 and all(len(p.parent.name) < 200 for p in trials)  # long override sets are cut
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_value" in best and "model.hidden_size" in best and "task.module.lr" in best
    values = [json.loads(p.read_text())["best_val"]["val/acc"] for p in trials]
    assert f"best_value: {max(values)}" in best  # the sweeper maximised what train returned


def test_a_failing_job_leaves_the_others_and_compare_lists_it(tmp_path, monkeypatch):
    sweep = tmp_path / "mixed"
    argv = ["task=hello", "task.data.target=ohlol,ohlo", *TINY[1:], f"hydra.sweep.dir={sweep}"]
    assert multirun(argv, monkeypatch) != 0  # Hydra reports the failed job...
    assert len(list(sweep.glob("*/results.json"))) == 1  # ...after the good one finished
    rows = compare(sweep).splitlines()
    assert any("| failed |" in row and "target=ohlo" in row and "of equal length" in row for row in rows)


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_two_job_sweep(data_dir, tmp_path):
    sweep = tmp_path / "submitit"
    cmd = [
        sys.executable,
        "-m",
        "src.train",
        "-m",
        "hydra/launcher=submitit_local",
        "model=rnn,gru",
        f"paths.data_dir={data_dir}",
        *TINY,
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    models = sorted(json.loads(p.read_text())["model"] for p in sweep.glob("*/results.json"))
    assert models == ["gru", "rnn"] and (sweep / ".submitit").is_dir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_tensorboard_serves_the_runs_scalars_images_and_hparams(data_dir, tmp_path, compose):
    from src.run.build import train

    logdir = tmp_path / "outputs"
    train(compose([f"paths.data_dir={data_dir}", *TINY[:1], "trainer.max_epochs=2", *TINY[2:]], logdir / "run"))
    port = free_port()
    tensorboard = Path(sys.executable).parent / "tensorboard"
    server = subprocess.Popen(
        [str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        get = lambda path: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read())  # noqa: E731
        for _ in range(60):  # up to 30 s to start and read the events
            try:
                scalars = get("/data/plugin/scalars/tags")
                if scalars.get("run"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert {"val/acc", "test/acc", "train/loss_epoch"} <= set(scalars["run"]), scalars
        assert "val/confusion_matrix" in get("/data/plugin/images/tags")["run"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/data/plugin/hparams/experiment",
            data=b'{"experimentName": ""}',
            headers={"Content-Type": "application/json"},
        )
        experiment = urllib.request.urlopen(request, timeout=5).read().decode()
        assert "model.cell" in experiment and "test/acc" in experiment
    finally:
        server.terminate()
        server.wait(timeout=10)


# The commands (`python -m src.<name>`): thin entry points over the run library; nothing imports them.
COMMANDS = {
    "src.train",
    "src.predict",
    "src.inspect",
    "src.compare",
    "src.baseline",
    "src.fair_cells",
    "src.scratch.__main__",
}


def project_imports(root: Path) -> dict[str, set[str]]:
    """Each module under src/ and hydra_plugins/ -> the src modules it imports, at the top or inside a
    function (a lazy import is an edge all the same): `from src.analysis import stats` is src.analysis.stats,
    `from src import load` is src (its __init__)."""
    modules = {}
    for folder in ("src", "hydra_plugins"):
        for file in sorted((root / folder).rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        found = graph.setdefault(name, set())
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "src"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from .y import z
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                    )
                if base.split(".")[0] != "src":
                    continue
                for alias in node.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return graph


def import_problems(graph: dict[str, set[str]]) -> list[str]:
    """What breaks the layers: a command imported by another module, and every import circle."""
    problems = [
        f"{name} imports the command {target}"
        for name, targets in sorted(graph.items())
        for target in sorted(targets & COMMANDS)
        if target != name
    ]
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                problems.append("import circle: " + " -> ".join([*path[path.index(target) :], target]))
            elif target in graph and not state.get(target):
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [name])
    return problems


def test_no_module_imports_a_command_and_no_import_circle():
    """The layers of src/ (src/__init__.py): commands on top, nothing imports them, and no import circle."""
    graph = project_imports(Path(__file__).resolve().parents[1])
    assert set(graph) >= COMMANDS | {"src.run.build", "src.analysis.table"}
    assert import_problems(graph) == []


def test_the_import_check_finds_a_command_import_and_a_circle():
    graph = {
        "src.train": {"src.run.build"},
        "src.run.build": {"src.run.checks"},
        "src.run.checks": {"src.run.build"},
        "src.baselines": {"src.train"},
    }
    problems = import_problems(graph)
    assert "src.baselines imports the command src.train" in problems
    assert any(p.startswith("import circle: src.run.build -> src.run.checks -> src.run.build") for p in problems)


# Inspection and FLOP counting ask the task and its network (issue 27): a new kind of task edits none of these.
ASKS_THE_PLUG_IN = ("src/inspect.py", "src/tasks/inspection.py", "src/run/callbacks.py", "benchmarks/flops.py")
# modules that hold one kind of task, network or data set: importing one is knowing it
NETS_AND_TASKS = ("classifier", "classification", "labeller", "labelling", "language_model", "seq2seq")
TASK_MODULES = {"src.data.specs", "src.data.binary", "src.data.codecs"}
TASK_MODULES |= {f"src.{layer}.{name}" for layer in ("nn", "tasks") for name in NETS_AND_TASKS}


def plug_in_classes(root: Path) -> set[str]:
    """The names of the classes a task brings: specs, networks and their parts, tasks, batches."""
    files = [root / "src/data/specs.py", root / "src/data/batching.py", *sorted((root / "src/nn").glob("*.py"))]
    files += [f for f in sorted((root / "src/tasks").glob("*.py")) if f.name != "inspection.py"]
    return {n.name for f in files for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.ClassDef)}


def type_switches(source: str, classes: set[str]) -> list[str]:
    """Where `source` asks what kind of task or network it has: isinstance(x, C) with C one of
    `classes`, hasattr(x, "...") on anything, and an import of a module of TASK_MODULES."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2:
            named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            named |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            if node.func.id == "isinstance" and named & classes:
                found.append(f"line {node.lineno}: isinstance(..., {', '.join(sorted(named & classes))})")
            if node.func.id == "hasattr":
                found.append(f"line {node.lineno}: hasattr(..., {ast.unparse(node.args[1])})")
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found += [f"line {node.lineno}: imports {m}" for m in modules if m in TASK_MODULES]
    return found


def test_inspection_and_flop_counting_ask_the_task_and_its_network():
    """No type switch outside the plug-in: src.inspect, its library, the InspectCells callback and the
    FLOP count call methods of the task and its network (docs/adding-a-task.md)."""
    root = Path(__file__).resolve().parents[1]
    classes = plug_in_classes(root)
    assert {"Seq2SeqSpec", "Seq2SeqNet", "RecurrentCore", "StepLabeller", "PairBatch"} <= classes
    problems = {path: type_switches((root / path).read_text(), classes) for path in ASKS_THE_PLUG_IN}
    assert {path: found for path, found in problems.items() if found} == {}


def test_the_type_switch_check_finds_isinstance_hasattr_and_a_task_import():
    source = (
        "from src.data.binary import INPUTS\n"
        "import src.nn.seq2seq\n"
        "def cell(net, spec):\n"
        "    if isinstance(spec, (LabellingSpec, int)) or isinstance(net, src.nn.seq2seq.Seq2SeqNet):\n"
        "        return 1\n"
        "    return net.encoder if hasattr(net, 'encoder') else isinstance(net, dict)\n"
    )
    assert type_switches(source, {"LabellingSpec", "Seq2SeqNet"}) == [
        "line 1: imports src.data.binary",
        "line 2: imports src.nn.seq2seq",
        "line 4: isinstance(..., LabellingSpec)",
        "line 4: isinstance(..., Seq2SeqNet)",
        "line 6: hasattr(..., 'encoder')",
    ]


def test_the_code_fits_the_formatter_without_skip_markers():
    """The fmt-skip marker hid 168 hand-laid lines from ruff format; none are left. A table that truly reads
    better by hand would be named here, with why."""
    root = Path(__file__).resolve().parents[1]
    marker = "# fmt: " + "skip"  # not spelled whole: this file is searched too
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("src", "benchmarks", "tests", "hydra_plugins", "docs")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    ]
    assert found == []
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "benchmarks", "tests", "hydra_plugins", "docs"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout[-2000:]
