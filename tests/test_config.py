"""Unit tier: every config group composes, and command-line overrides reach the objects they name."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from src.data.specs import ClassificationSpec
from src.data.vocab import PAD, Vocab
from src.paths import CONF_DIR
from src.run.budget import core_args

GROUPS = {
    group: sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")) for group in ("task", "model", "trainer")
}


def test_groups_hold_what_the_readme_promises():
    assert GROUPS["model"] == ["gru", "lstm", "mingru", "minlstm", "rnn", "transformer"]
    assert {"default", "cpu", "gpu", "ddp", "debug"} <= set(GROUPS["trainer"])
    assert "names" in GROUPS["task"]


@pytest.mark.parametrize("trainer", GROUPS["trainer"])
def test_every_trainer_composes(trainer: str, tmp_path: Path, compose):
    cfg = compose([f"trainer={trainer}"], tmp_path)
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    expected = {"gpu": ("accelerator", "gpu"), "ddp": ("strategy", "ddp"), "cpu": ("accelerator", "cpu")}
    if trainer in expected:
        key, value = expected[trainer]
        assert cfg.trainer[key] == value


@pytest.mark.parametrize("task", GROUPS["task"])
@pytest.mark.parametrize("model", GROUPS["model"])
def test_every_task_and_model_compose_with_a_monitor(task: str, model: str, tmp_path: Path, compose):
    cfg = compose([f"task={task}", f"model={model}"], tmp_path)
    assert cfg.model.cell == model and cfg.task.name == task
    assert cfg.task.monitor.startswith("val/") and cfg.task.monitor_mode in ("min", "max")
    assert cfg.callbacks.checkpoint.monitor == cfg.task.monitor  # one source for the monitored metric


def test_command_line_overrides_reach_the_module(tmp_path: Path, compose):
    overrides = [
        "model=lstm",
        "model.hidden_size=16",
        "model.num_layers=3",
        "model.dropout=0.1",
        "model.bidirectional=false",
        "task.module.embedding_dim=7",
        "task.module.lr=0.01",
        "task.data.batch_size=5",
        "seed=3",
    ]
    cfg = compose(overrides, tmp_path)
    spec = ClassificationSpec(vocab=Vocab("abc", specials=[PAD]), labels=["x", "y"]).to_dict()
    core, budget = core_args(cfg.model)  # as build_run takes them (src/run/budget.py)
    assert budget is None
    module = instantiate(cfg.task.module, spec=spec, model=core, _convert_="all")
    rnn = module.net.core.rnn
    assert isinstance(rnn, nn.LSTM) and rnn.hidden_size == 16 and rnn.num_layers == 3 and rnn.dropout == 0.1
    assert not rnn.bidirectional and module.net.embed.embedding_dim == 7 and module.lr == 0.01
    assert cfg.task.data.batch_size == 5 and cfg.seed == 3


def test_run_folder_names_carry_task_cell_and_overrides(tmp_path: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from src.run.resolvers import register_resolvers

    register_resolvers()  # ${run_suffix:...} in the run folder's name, as every command registers it

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["model=lstm", "model.hidden_size=64"], return_hydra_config=True)
    # override_dirname is filled in when a job runs; set it as Hydra would, then resolve the folder name
    cfg.hydra.job.override_dirname = "model.hidden_size-64+model-lstm"  # kv_sep and item_sep of train.yaml
    HydraConfig.instance().set_config(cfg)
    run_dir = OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]
    assert cfg.hydra.job.config.override_dirname.kv_sep == "-" and cfg.hydra.job.config.override_dirname.item_sep == "+"
    # model-lstm left out: the cell says it (TensorBoard's HPARAMS cut the name before what tells runs apart)
    assert run_dir.startswith("outputs/names/") and run_dir.endswith("_lstm_model.hidden_size-64")
