"""Seconds per training epoch: Lightning vs a bare PyTorch loop vs the course (names, dinos).

    python -m benchmarks.speed                       # the default names x gru config
    python -m benchmarks.speed model=lstm threads=2  # any train override

(a) the project's Lightning run (logger, callbacks, progress bar, per-step logging, as `src.train`
    runs it) against a bare PyTorch loop over the same batches, model and optimiser;
(b) that epoch against the course's one-name-at-a-time loop (one-hot input, GRU hidden 128, Adam
    1e-3, batch 1), timed on a sample of names and extrapolated to the training set; and, as the
    like-for-like figure, the course's model size (one direction, hidden 128) run batched through
    the same Lightning path (`*_same_model`): the default model does several times the course's
    arithmetic per name, so only this ratio isolates what batching buys.
(c) the dinos task's epoch, Lightning against the bare loop (`dinos_*`).
Each is timed twice (dinos three times), alternating, the fastest kept. The last line is one JSON object.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, InstantiationException
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf, open_dict
from torch import nn

from src import CONF_DIR
from src.errors import EXIT_USER_ERROR, UserError
from src.train import build, build_trainer, check_choices

PER_EXAMPLE_SAMPLE = 1500  # names timed in the course's loop
# The course's network size on the project's batched path (batch 256: larger batches were no faster here).
COURSE_SIZED = ["model.bidirectional=false", "model.num_layers=1", "model.hidden_size=128", "task.data.batch_size=256"]


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


class TrainEpochClock(L.Callback):
    """Times the training part of each epoch: first batch start to last batch end."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_start(self, trainer, module):
        self._clock = Clock().__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:
            self._clock.__exit__()
            self.epochs.append((self._clock.wall, self._clock.cpu))


def compose_names(overrides: list[str], run_dir: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = run_dir
    return cfg


def setup_run(cfg):
    L.seed_everything(cfg.seed, workers=True)
    dm = build(cfg.task.data)
    dm.prepare_data()
    dm.setup("fit")
    module = build(cfg.task.module, spec=dm.spec, model=OmegaConf.to_container(cfg.model), _convert_="all")
    return dm, module


def lightning_epoch(cfg) -> tuple[float, float]:
    """One epoch of the project's own Lightning run (validation included but not timed)."""
    dm, module = setup_run(cfg)
    clock = TrainEpochClock()
    logger = TensorBoardLogger(cfg.paths.output_dir, name="", version="", default_hp_metric=False)
    trainer = build_trainer(cfg, logger, extra_callbacks=[clock], max_epochs=1, enable_model_summary=False)
    trainer.fit(module, datamodule=dm)
    return clock.epochs[0]


def bare_epoch(cfg) -> tuple[float, float]:
    """The same batches through the same model, optimiser and schedule in a plain loop."""
    dm, module = setup_run(cfg)
    loader = dm.train_dataloader()
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.task.module.lr, weight_decay=cfg.task.module.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.task.module.lr, total_steps=len(loader))
    module.train()
    with Clock() as clock:
        for batch in loader:
            loss, _ = module.shared_step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), cfg.trainer.gradient_clip_val)
            optimizer.step()
            schedule.step()
    return clock.wall, clock.cpu


class CourseClassifier(nn.Module):
    """The lesson's model: one-hot letters -> GRU(128) -> last step -> Linear -> LogSoftmax."""

    def __init__(self, letters: int, classes: int, hidden: int = 128):
        super().__init__()
        self.rnn = nn.GRU(letters, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, one_hot):  # (T, 1, letters)
        output, _ = self.rnn(one_hot)
        return F.log_softmax(self.out(output[-1]), dim=-1)  # (1, classes)


def per_example_epoch(cfg) -> tuple[float, float, int]:
    """The course's loop, one name a step, timed on a sample; returns the extrapolated epoch."""
    dm, _ = setup_run(cfg)
    data = dm.datasets["train"]
    letters = len(dm.spec["alphabet"]) + 1
    model = CourseClassifier(letters, len(dm.spec["labels"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sample = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:PER_EXAMPLE_SAMPLE]
    with Clock() as clock:
        for i in sample.tolist():
            length = int(data.lengths[i])
            one_hot = F.one_hot(data.tokens[i, :length], letters).float().unsqueeze(1)  # (T, 1, letters)
            loss = F.nll_loss(model(one_hot), data.targets[i : i + 1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    scale = len(data) / len(sample)
    return clock.wall * scale, clock.cpu * scale, len(sample)


def main(overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_names(["trainer.enable_progress_bar=true", *overrides], str(Path(tmp) / "run"))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        threads = torch.get_num_threads()
        print(f"names x {cfg.model.cell}, torch {torch.__version__}, {threads} thread(s); overrides: {overrides}")
        bare, lightning = [], []
        for _ in range(2):  # alternate, keep the faster of each: the machine's load changes under us
            bare.append(bare_epoch(cfg))
            lightning.append(lightning_epoch(cfg))
        same_cfg = compose_names(
            ["trainer.enable_progress_bar=true", *overrides, *COURSE_SIZED], str(Path(tmp) / "same")
        )
        same_model = min(lightning_epoch(same_cfg) for _ in range(2))
        per_example = per_example_epoch(cfg)
        train_names = len(setup_run(cfg)[0].datasets["train"])
        # dinos: the same Lightning-vs-bare comparison on the character language model
        dinos_cfg = compose_names(["task=dinos", "trainer.enable_progress_bar=true", *overrides], str(Path(tmp) / "d"))
        dinos_bare, dinos_lightning = [], []
        for _ in range(3):  # short epochs: one more round
            dinos_bare.append(bare_epoch(dinos_cfg))
            dinos_lightning.append(lightning_epoch(dinos_cfg))
    bare_wall, bare_cpu = min(bare)
    light_wall, light_cpu = min(lightning)
    result = {
        "task": "names",
        "model": cfg.model.cell,
        "threads": threads,
        "train_names": train_names,
        "batch_size": cfg.task.data.batch_size,
        "bare_epoch_wall_s": round(bare_wall, 4),
        "bare_epoch_cpu_s": round(bare_cpu, 4),
        "lightning_epoch_wall_s": round(light_wall, 4),
        "lightning_epoch_cpu_s": round(light_cpu, 4),
        "per_example_epoch_wall_s": round(per_example[0], 4),
        "per_example_epoch_cpu_s": round(per_example[1], 4),
        "per_example_sample": per_example[2],
        "lightning_vs_bare": round(light_wall / bare_wall, 3),
        "speedup_vs_per_example": round(per_example[0] / light_wall, 1),
        "lightning_epoch_same_model_wall_s": round(same_model[0], 4),
        "speedup_vs_per_example_same_model": round(per_example[0] / same_model[0], 1),
        "dinos_model": dinos_cfg.model.cell,
        "dinos_bare_epoch_wall_s": round(min(dinos_bare)[0], 4),
        "dinos_lightning_epoch_wall_s": round(min(dinos_lightning)[0], 4),
        "dinos_lightning_vs_bare": round(min(dinos_lightning)[0] / min(dinos_bare)[0], 3),
    }
    rows = [
        ("bare PyTorch, batched", bare_wall, bare_cpu, f"runs: {[round(w, 2) for w, _ in bare]}"),
        ("Lightning (src.train), batched", light_wall, light_cpu, f"runs: {[round(w, 2) for w, _ in lightning]}"),
        ("Lightning, course-sized model", same_model[0], same_model[1], " ".join(COURSE_SIZED)),
        ("course, one name a step", per_example[0], per_example[1], f"extrapolated from {per_example[2]} names"),
    ]
    rows += [
        ("dinos: bare PyTorch", *min(dinos_bare), f"runs: {[round(w, 3) for w, _ in dinos_bare]}"),
        ("dinos: Lightning (src.train)", *min(dinos_lightning), f"runs: {[round(w, 3) for w, _ in dinos_lightning]}"),
    ]
    print(f"\n{'loop':<34}{'wall s/epoch':>14}{'cpu s/epoch':>14}")
    for name, wall, cpu, note in rows:
        print(f"{name:<34}{wall:>14.2f}{cpu:>14.2f}   ({note})")
    print(
        f"lightning_vs_bare = {result['lightning_vs_bare']:.3f} (target <= 1.10); "
        f"speedup_vs_per_example = {result['speedup_vs_per_example']:.1f}x (target >= 50x); "
        f"same model size: {result['speedup_vs_per_example_same_model']:.1f}x; "
        f"dinos lightning_vs_bare = {result['dinos_lightning_vs_bare']:.3f}"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    try:
        check_choices(sys.argv[1:])  # model=foo: one line naming the choices
        main(sys.argv[1:])
    except (UserError, ConfigCompositionException, InstantiationException) as err:
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
