"""Nothing read from a checkpoint or a run folder acts. Each test crafts a plain-data file as an
attacker who shares a run folder or a checkpoint would, goes through a real entry point, and checks
that no file outside the run folder is created, changed or removed."""

import json
from pathlib import Path

import pytest
import torch

import src.train


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file and folder under `root` (but those under `skip`), with its size and mtime."""
    seen = {}
    for path in [root, *root.rglob("*")]:
        if skip is not None and (path == skip or skip in path.parents):
            continue
        stat = path.lstat()
        seen[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return seen


def resume(run: Path, *extra: str) -> list[str]:
    return [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"hydra.run.dir={run}", *extra]


@pytest.fixture
def finished(tiny, tmp_path, run_cli) -> Path:
    run = tmp_path / "finished"
    assert run_cli(src.train, [*tiny, f"hydra.run.dir={run}"]).code == 0  # 2 epochs
    return run


def craft(run: Path, **state) -> None:
    """Rewrite the best-checkpoint callback's saved state in the run's last.ckpt (plain data)."""
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    [key] = [k for k, saved in ckpt["callbacks"].items() if saved.get("monitor") == "val/acc"]
    ckpt["callbacks"][key] |= state
    torch.save(ckpt, last)


def test_a_crafted_checkpoint_path_never_removes_a_folder_outside_the_run(finished, tiny, tmp_path, run_cli):
    """A crafted last.ckpt names a folder outside the run as its k-th best checkpoint, under a saved
    dirpath that a moved run folder's state is read from (/x/../../victim): when the resumed run
    writes a better best.ckpt, Lightning removes the k-th best path, recursively."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    crafted = "/x/../../victim"
    craft(
        finished,
        dirpath="/x",
        best_model_path="/x/best.ckpt",
        kth_best_model_path=crafted,
        best_k_models={crafted: torch.tensor(-1.0)},
        kth_value=torch.tensor(-1.0),  # any accuracy beats it: the next validation replaces it
        best_model_score=torch.tensor(-1.0),
    )
    before = snapshot(tmp_path, skip=finished)
    result = run_cli(src.train, [*tiny, *resume(finished, "trainer.max_epochs=3")])
    assert result.code == 0, result.err
    assert (victim / "precious.txt").read_text() == "keep me"
    assert snapshot(tmp_path, skip=finished) == before


def test_a_crafted_best_checkpoint_outside_the_run_is_never_loaded(finished, tiny, tmp_path, run_cli):
    """The saved best_model_path names a file outside the run with a score no epoch beats: the run
    would test (load) that file and record it as its best checkpoint."""
    outside = tmp_path / "outside.ckpt"
    outside.write_bytes((finished / "checkpoints" / "best.ckpt").read_bytes())
    checkpoints = str(finished / "checkpoints")
    craft(
        finished,
        dirpath=checkpoints,
        best_model_path=str(outside),
        best_k_models={str(outside): torch.tensor(2.0)},
        kth_best_model_path=str(outside),
        kth_value=torch.tensor(2.0),
        best_model_score=torch.tensor(2.0),
    )
    before = snapshot(tmp_path, skip=finished)
    result = run_cli(src.train, [*tiny, *resume(finished, "trainer.max_epochs=3")])
    assert result.code == 0, result.err
    assert snapshot(tmp_path, skip=finished) == before
    best = json.loads((finished / "results.json").read_text())["best_ckpt"]
    assert Path(best).parent == finished / "checkpoints"


def test_a_run_folders_config_never_reaches_instantiate(finished, data_dir, tmp_path, run_cli):
    """inspect builds the split's DataModule with the run's own data settings from its config.yaml: a
    nested `_target_` there was instantiated, and Path.write_text wrote any file."""
    import yaml

    import src.inspect

    pwned = tmp_path / "pwned.txt"
    config = yaml.safe_load((finished / "config.yaml").read_text())
    config["task"]["data"]["path"] = {
        "_target_": "pathlib.Path.write_text",
        "self": {"_target_": "pathlib.Path", "_args_": [str(pwned)]},
        "data": "written by a run folder",
    }
    (finished / "config.yaml").write_text(yaml.safe_dump(config))
    before = snapshot(tmp_path, skip=finished)
    argv = [f"ckpt={finished / 'checkpoints' / 'best.ckpt'}", "input=Rossi", f"data_dir={data_dir}"]
    run_cli(src.inspect, argv).assert_one_clear_line("config.yaml", "task.data.path")
    assert not pwned.exists()
    assert snapshot(tmp_path, skip=finished) == before


def test_a_run_folders_data_settings_are_checked_plain_values(tmp_path):
    import yaml

    from src.errors import UserError
    from src.inspect import saved_data_options

    defaults = {
        "_target_": "x.Y",
        "data_dir": "/d",
        "path": "names",
        "val_fraction": 0.1,
        "batch_size": 64,
        "bucketing": True,
        "prefixes": None,
    }
    config = tmp_path / "config.yaml"

    def read(**data):
        config.write_text(yaml.safe_dump({"task": {"data": data}}))
        return saved_data_options(config, defaults)

    kept = read(
        path="names/sub",
        val_fraction=1,
        batch_size=8,
        bucketing=False,
        prefixes=["i am"],
        extra=1,
        data_dir="/elsewhere",
        _target_="os.system",
    )
    assert kept == {"path": "names/sub", "val_fraction": 1, "batch_size": 8, "bucketing": False, "prefixes": ["i am"]}
    for bad in [
        {"path": {"_target_": "builtins.open"}},
        {"path": "/etc"},
        {"path": "../../etc"},
        {"path": "~/x"},
        {"path": "${oc.env:HOME}"},
        {"batch_size": 0.5},
        {"batch_size": True},
        {"bucketing": "yes"},
        {"prefixes": [{"_target_": "os.system"}]},
    ]:
        with pytest.raises(UserError, match=f"task.data.{next(iter(bad))}"):
            read(**bad)
    config.write_text("- a list\n")
    with pytest.raises(UserError, match="no task.data"):
        saved_data_options(config, defaults)


class Planted:
    """A pickle that acts when loaded without weights_only: it writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "a pickle ran")


def test_a_resume_path_that_starts_with_http_is_a_local_file_loaded_as_weights(tiny, tmp_path, run_cli, monkeypatch):
    """Lightning takes a ckpt_path starting with "http" for a URL and loads the file of that name in
    torch.hub's cache with weights_only=False: a pickle planted there ran. A run folder under
    http_runs/ must resume from its own checkpoint, as plain data."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    marker = tmp_path / "ran.txt"
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"state_dict": Planted(marker)}, cache / "last.ckpt")
    run = Path("http_runs") / "run"
    assert run_cli(src.train, [*tiny, f"hydra.run.dir={run}"]).code == 0
    before = snapshot(tmp_path, skip=tmp_path / run)

    result = run_cli(src.train, [*tiny, *resume(run, "trainer.max_epochs=3")])

    assert not marker.exists()
    assert result.code == 0, result.err
    assert snapshot(tmp_path, skip=tmp_path / run) == before
    assert json.loads((run / "results.json").read_text())["epochs"] == 3


def test_a_checkpoints_task_name_never_reaches_a_config_path(finished, data_dir, tmp_path, run_cli):
    """inspect composed `task=<the checkpoint's task>`: a name like ../../<run>/evil loaded a YAML file
    shipped in the run folder, whose task.data._target_ was instantiated."""
    import src.inspect
    import src.predict

    pwned = tmp_path / "pwned.txt"
    evil = finished / "evil.yaml"
    evil.write_text(
        "# @package _global_\ntask:\n  name: names\n  data:\n    _target_: pathlib.Path.write_text\n"
        f"    self: {{_target_: pathlib.Path, _args_: [{pwned}]}}\n    data: written\n"
    )
    ckpt_path = finished / "checkpoints" / "best.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["rnnlab"]["task"] = str(Path("..") / ".." / ".." / ".." / evil.relative_to("/").with_suffix(""))
    torch.save(ckpt, ckpt_path)
    before = snapshot(tmp_path, skip=finished)
    argv = [f"ckpt={ckpt_path}", "input=Rossi", f"data_dir={data_dir}"]
    run_cli(src.inspect, argv).assert_one_clear_line("not one of this project's")
    run_cli(src.predict, argv[:2]).assert_one_clear_line("not one of this project's")
    assert not pwned.exists()
    assert snapshot(tmp_path, skip=finished) == before
