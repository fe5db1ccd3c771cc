"""What `tensorboard --logdir` shows of runs of several tasks in one logdir, read back through
TensorBoard's own HTTP API (its WSGI app, in-process): the HPARAMS experiment, the CUSTOM SCALARS
layout, one learning-rate curve; and the evidence figures and text the tasks log."""

import re
from pathlib import Path

import pytest
import torch
from werkzeug.test import Client

from src.run.build import train
from src.run.dashboard import trial_name
from src.tasks.classification import confusion_figure
from src.tasks.seq2seq import attention_figure

SWEEP = "multirun/2026-11-25_10-00-00.000001"
RUNS = {  # folder under the logdir -> task, cell
    f"{SWEEP}/0_model-rnn+task-names": ("names", "rnn"),
    f"{SWEEP}/1_model-gru+task-names": ("names", "gru"),
    "dinos/2026-11-25_10-05-00.000002_gru": ("dinos", "gru"),
}
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory, compose, make_data) -> tuple[Path, dict]:
    """Two names runs (a sweep's folders) and a dinos run in one logdir: folder -> results."""
    root = tmp_path_factory.mktemp("tensorboard")
    data = make_data(root)
    results = {}
    for folder, (task, cell) in RUNS.items():
        overrides = [
            f"task={task}",
            f"model={cell}",
            f"paths.data_dir={data}",
            "model.hidden_size=8",
            "model.num_layers=1",
            "model.bidirectional=false",
            "task.module.embedding_dim=4",
            "task.data.batch_size=16",
            "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "trainer.log_every_n_steps=1",
            "trainer.accelerator=cpu",
            "callbacks.inspect=null",
        ]
        if task == "dinos":
            overrides += ["task.module.novelty_samples=4", "task.module.samples=2"]
        results[folder] = train(compose(overrides, root / "outputs" / folder))
    return root / "outputs", results


def tensorboard(logdir: Path) -> Client:
    """TensorBoard's app as `tensorboard --logdir` serves it, every event file read before it answers."""
    from tensorboard import default, program
    from tensorboard.backend.application import TensorBoardWSGIApp
    from tensorboard.backend.event_processing.data_ingester import LocalDataIngester

    board = program.TensorBoard(default.get_plugins())
    board.configure(logdir=str(logdir), load_fast="false", reload_task="blocking", reload_interval=0)
    ingester = LocalDataIngester(board.flags)
    ingester.start()
    app = TensorBoardWSGIApp(
        board.flags,
        board.plugin_loaders,
        ingester.data_provider,
        board.assets_zip_provider,
        ingester.deprecated_multiplexer,
    )
    return Client(app)


def test_hparams_of_a_mixed_logdir_has_every_tasks_metrics_and_short_trial_names(logdir):
    root, results = logdir
    client = tensorboard(root)
    experiment = client.post("/data/plugin/hparams/experiment", json={"experimentName": ""}).json
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"val/acc", "val/f1", "test/acc", "test/f1", "val/nll", "test/nll", "test/ppl"} <= metrics, metrics
    assert not [m for m in metrics if "by_length" in m]  # a curve over length is no column: a picture now
    hparams = {h["name"] for h in experiment["hparamInfos"]}
    assert {"model.cell", "task.name", "task.module.tie_weights", "task.module.class_balance"} <= hparams

    request = {
        "experimentName": "",
        "allowedStatuses": ALL_STATUSES,
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 100,
    }
    groups = client.post("/data/plugin/hparams/session_groups", json=request).json["sessionGroups"]
    names = {
        "0_model-rnn+task-names @ 2026-11-25_10-00-00.000001": f"{SWEEP}/0_model-rnn+task-names",
        "1_model-gru+task-names @ 2026-11-25_10-00-00.000001": f"{SWEEP}/1_model-gru+task-names",
        "gru @ 2026-11-25_10-05-00.000002": "dinos/2026-11-25_10-05-00.000002_gru",
    }
    assert {g["name"] for g in groups} == set(names)
    for group in groups:  # each row: its own run's final test metrics, as results.json has them
        folder = names[group["name"]]
        values = {v["name"]["tag"]: v["value"] for v in group["metricValues"]}
        for key, value in results[folder]["test"].items():
            assert values[key] == pytest.approx(value, rel=1e-5), (folder, key)
        assert group["hparams"]["task.name"] == RUNS[folder][0] and group["hparams"]["model.cell"] == RUNS[folder][1]


def test_custom_scalars_has_a_chart_per_validation_metric_with_every_run_of_the_task(logdir):
    root, _ = logdir
    client = tensorboard(root)
    layout = client.get("/data/plugin/custom_scalars/layout").json
    charts = {c["title"]: [chart["title"] for chart in c["chart"]] for c in layout["category"]}
    # the monitored metric first; the two names runs wrote the same layout, which TensorBoard merged
    assert charts == {"names": ["val/acc", "val/bal_acc", "val/f1"], "dinos": ["val/nll"]}
    tags = client.get("/data/plugin/scalars/tags").json  # run -> tag -> ...
    for category in layout["category"]:
        for chart in category["chart"]:
            [pattern] = chart["multiline"]["tag"]
            drawn = {run for run, run_tags in tags.items() if any(re.search(pattern, t) for t in run_tags)}
            assert drawn == {run for run, (task, _) in RUNS.items() if task == category["title"]}, chart


def test_one_learning_rate_curve_and_no_epoch_chart(logdir):
    root, results = logdir
    tags = tensorboard(root).get("/data/plugin/scalars/tags").json
    for run, run_tags in tags.items():
        assert "train/lr" in run_tags and "epoch" not in run_tags, run
        assert not [t for t in run_tags if t.startswith("lr-")], run
    folder = f"{SWEEP}/0_model-rnn+task-names"
    points = tensorboard(root).get("/data/plugin/scalars/scalars", query_string={"run": folder, "tag": "train/lr"}).json
    # as each of the 2 epochs starts, the rate of names' one-cycle schedule (lr 3e-3) over the run's steps
    steps = results[folder]["global_step"]
    assert [step for _, step, _ in points] == [0, steps // 2]
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert [value for _, _, value in points] == pytest.approx([rates[0], rates[steps // 2]])


def test_names_logs_its_misclassified_validation_names(logdir, tb_text, synthetic_names):
    root, results = logdir
    folder = f"{SWEEP}/1_model-gru+task-names"
    text = tb_text(root / folder, "val/misclassified")
    head, _, *table = text.splitlines()
    wrong, total = map(int, re.match(r"(\d+) of (\d+) validation names misclassified", head).groups())
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert table[:2] == ["| name | true | predicted |", "|---|---|---|"] and len(rows) == wrong
    language = {name: lang for lang, names in synthetic_names.items() for name in names} | {"Belanger": "Italian"}
    for name, true, predicted in rows:
        assert language[name] == true and predicted != true and predicted in synthetic_names
    # the last validation's accuracy is the share it got right
    events = tensorboard(root).get("/data/plugin/scalars/scalars", query_string={"run": folder, "tag": "val/acc"}).json
    assert wrong == round(total * (1 - events[-1][2]))


def test_confusion_matrix_writes_each_count_in_its_cell_with_a_colour_bar():
    counts = torch.tensor([[5, 1, 0], [0, 3, 2], [1, 0, 4]])  # rows: true label
    fig = confusion_figure(counts, ["a", "b", "c"], "val")
    matrix, bar = fig.axes
    written = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in matrix.texts}
    assert written == {(0, 0): "5", (0, 1): "1", (1, 1): "3", (1, 2): "2", (2, 0): "1", (2, 2): "4"}  # no 0s
    shares = matrix.images[0].get_array()  # colour: the share of the row
    assert shares[0].tolist() == pytest.approx([5 / 6, 1 / 6, 0]) and shares[2].tolist() == pytest.approx([0.2, 0, 0.8])
    assert "share" in bar.get_ylabel() and [t.get_text() for t in matrix.get_xticklabels()] == ["a", "b", "c"]


def test_attention_figure_titles_each_input_and_has_one_colour_bar():
    weights = torch.full((3, 3), 1 / 3)  # (outputs + end, source + end)
    fig = attention_figure([(["i", "am"], ["je", "suis"], weights), (["go", "!"], ["va", "!"], weights)])
    *maps, bar = fig.axes
    assert [ax.get_title() for ax in maps] == ["i am", "go !"]
    assert bar.get_ylabel() == "attention weight"


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        (
            "outputs/names/2026-11-23_10-00-00.123456_gru_model.hidden_size-64",
            "gru_model.hidden_size-64 @ 2026-11-23_10-00-00.123456",
        ),
        (
            "outputs/multirun/2026-11-23_10-00-00.123456/0_model-rnn+task-names",
            "0_model-rnn+task-names @ 2026-11-23_10-00-00.123456",
        ),
        ("/tmp/runs/names_gru", "names_gru"),
    ],
)
def test_trial_name_puts_what_the_run_is_before_when_it_started(folder: str, name: str):
    assert trial_name(Path(folder)) == name


def test_named_runs_and_sweeps_go_under_their_name_and_debug_runs_stay_out_of_outputs(
    tiny, tmp_path, run_cli, monkeypatch
):
    """name= puts a run or a sweep under a folder of that name (`tensorboard --logdir outputs/multirun/<name>`
    shows that sweep alone); trainer=debug runs go to outputs-debug/, out of `tensorboard --logdir outputs`;
    a run folder's name leaves out model-<cell> and task-<task>, which the folder says already."""
    import src.train

    monkeypatch.chdir(tmp_path)
    tiny = [o for o in tiny if not o.startswith("trainer.max_epochs")] + ["trainer.max_epochs=1"]
    assert run_cli(src.train, [*tiny, "name=first-try", "model=gru", "task=names"]).code == 0
    [run] = (tmp_path / "outputs" / "names" / "first-try").iterdir()
    assert "model-gru" not in run.name and "task-names" not in run.name and (run / "results.json").exists()
    assert run_cli(src.train, ["-m", *tiny, "name=cells", "model=rnn,gru"]).code == 0
    [sweep] = (tmp_path / "outputs" / "multirun" / "cells").iterdir()
    assert sorted(p.name[:2] for p in sweep.iterdir() if p.is_dir()) == ["0_", "1_"]
    assert run_cli(src.train, [*tiny, "trainer=debug"]).code == 0
    assert run_cli(src.train, ["-m", *tiny, "trainer=debug", "model=rnn,gru"]).code == 0
    assert sorted(p.name for p in (tmp_path / "outputs-debug").iterdir()) == ["multirun", "names"]
    assert sorted(p.name for p in (tmp_path / "outputs" / "names").iterdir()) == ["first-try"]
    run_cli(src.train, [*tiny, "name=../elsewhere"]).assert_one_clear_line("name=../elsewhere", "a folder name")
