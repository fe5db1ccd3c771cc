"""An Optuna study as a Hydra sweep: `python -m src.train -m hparams_search=names_optuna`.

Each trial is an ordinary run folder of the sweep (`<trial number>_<overrides>`), launched by the
configured Hydra launcher, and the objective is what `src.train` returns: the monitored validation
metric. The study lives in a storage (by default a journal file, `study.journal`, in the sweep
folder: Optuna's JournalStorage, safe on shared file systems; any Optuna storage URL otherwise, e.g.
postgresql://... for workers on many machines), so the same command again resumes it: finished
trials are kept, a trial that was running when its driver died is marked failed and tried once more,
and the study runs until `n_trials` trials have finished. `workers` trials run at once (a launcher
that runs jobs in parallel: joblib on this machine, submitit on SLURM).

The Hydra Sweeper plugin that Hydra instantiates is hydra_plugins/rnnlab_study/study_sweeper.py, a
shim over `Study` here (Hydra accepts plugins only from the hydra_plugins package).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from omegaconf import DictConfig, OmegaConf

from src.errors import UserError

log = logging.getLogger(__name__)

JOURNAL = "study.journal"
PRUNERS = ("median", "halving")  # hydra.sweeper.pruner: null (none), median or halving


def make_pruner(name: str | None):
    """Optuna's pruner of that name: median (a trial whose epoch's value is worse than the median of
    the earlier trials' at that epoch, after 2 trials and 1 epoch) or halving (successive halving)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def distribution(override: Override):
    """An Optuna distribution for a sweep override (choice, range, interval, tag(log, interval));
    None for a plain value (a fixed parameter)."""
    import optuna.distributions as d

    if not override.is_sweep_override():
        return None
    if override.is_choice_sweep():
        return d.CategoricalDistribution(list(override.sweep_iterator()))
    value = override.value()
    if override.is_range_sweep():
        values = sorted(override.sweep_iterator())  # range(0, 10, 3): 0, 3, 6, 9; shuffle() the same set
        if value.shuffle or len(values) < 2:
            return d.CategoricalDistribution(values)
        step = values[1] - values[0]
        if any(isinstance(v, float) for v in values):
            return d.FloatDistribution(values[0], values[-1], step=step)
        return d.IntDistribution(values[0], values[-1], step=step)
    log_scale = "log" in value.tags
    if isinstance(value.start, int) and isinstance(value.end, int):
        return d.IntDistribution(value.start, value.end, log=log_scale)
    return d.FloatDistribution(float(value.start), float(value.end), log=log_scale)


def search_space(arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(parameter -> distribution, parameter -> fixed value) of the study's params and command line."""
    space, fixed = {}, {}
    for override in OverridesParser.create().parse_overrides(arguments):  # a later one wins: the command line
        key = override.get_key_element()
        dist = distribution(override)
        space.pop(key, None), fixed.pop(key, None)
        if dist is None:
            fixed[key] = override.get_value_element_as_str()
        else:
            space[key] = dist
    return space, fixed


def storage_for(url: str | None, sweep_dir: Path):
    """The Optuna storage: a journal file in the sweep folder by default, else `url` (one line if it
    cannot be opened)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if not url:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))
    try:
        return optuna.storages.get_storage(url)
    except Exception as err:  # an unknown scheme, an unreachable database, a missing driver: all one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(
            f"hydra.sweeper.storage={url} cannot be opened ({first}); give a reachable Optuna storage URL "
            "(sqlite:///study.db, postgresql://...) or leave it null for a journal in the sweep folder"
        ) from None


# --- the engine: what a study of the sweeper and fair_cells's per-cell studies share -----------------
def open_study(
    name: str,
    storage,
    direction: str,
    sampler,
    signature: dict,
    retries: int,
    fix: str,
    finished_value=lambda number: None,
):
    """The study `name` in `storage`, created or resumed: a resumed one must have been started with the
    same `signature` (its search space and fixed settings; else one UserError ending with `fix`), its
    trials left running by a stopped driver are marked failed and retried, and its sampler (`sampler`:
    a partial taking seed=) draws on from where it stopped, not from its first draws again."""
    import optuna

    study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    known = study.user_attrs.get("signature")
    if known is None:
        study.set_user_attr("signature", signature)
    elif known != signature:
        changed = sorted(k for k in set(known) | set(signature) if known.get(k) != signature.get(k))
        raise UserError(f"study {name} exists in its storage with another search space ({', '.join(changed)}); {fix}")
    retry_abandoned(study, retries, finished_value)
    seed = sampler.keywords.get("seed") if hasattr(sampler, "keywords") else None
    study.sampler = sampler(**({"seed": seed + len(study.trials)} if seed is not None else {}))
    return study


def finished(study) -> int:
    """Trials that count towards the study's trials: completed, pruned, or failed with no retry left."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    spent = [t for t in trials if t.state == TrialState.FAIL and t.number not in retried]
    return len(done) + len(spent)


def retry(study, number: int, params: dict, attrs: dict, retries: int) -> None:
    """Queue a failed trial's parameters once more (up to `retries` times in all)."""
    tries = attrs.get("tries", 1)
    if tries <= retries:
        study.enqueue_trial(params, user_attrs={"retry_of": number, "tries": tries + 1})
        log.warning("trial %d failed; its parameters are tried again", number)


def retry_abandoned(study, retries: int, finished_value=lambda number: None) -> None:
    """A trial still RUNNING when the study starts was left by a driver that died (one command drives
    a study): kept with its value when its run finished (`finished_value(number)`), else failed and
    retried."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        value = finished_value(trial.number)
        if value is not None:
            study.tell(trial.number, value)
            log.warning("trial %d finished after its study stopped: its result is kept", trial.number)
            continue
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning("trial %d was left running by a stopped study: marked failed", trial.number)
        retry(study, trial.number, trial.params, trial.user_attrs, retries)


def value_in_folder(sweep_dir: Path, number: int) -> float | None:
    """The objective trial `number`'s run folder recorded (results.json is written last and whole),
    or None when the trial did not finish or its record cannot be read."""
    import json

    from src.run.results import Results

    folders = list(sweep_dir.glob(f"{number}_*/results.json"))
    if len(folders) != 1:
        return None
    try:
        results = Results.read(json.loads(folders[0].read_text()))
    except (OSError, ValueError, RecursionError):
        return None
    value = results.best_val.get(results.monitor)
    return float(value) if value is not None and not math.isnan(value) else None


class Study:
    """What the plugin's `setup` and `sweep` do (see the module docstring)."""

    def __init__(
        self,
        direction: str,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        workers: int,
        sampler: Any,
        params: DictConfig | None,
        retries: int = 1,
        pruner: str | None = None,
    ):
        if direction not in ("maximize", "minimize"):
            raise UserError(f"hydra.sweeper.direction={direction}; use maximize or minimize")
        if pruner is not None and pruner not in PRUNERS:
            raise UserError(f"hydra.sweeper.pruner={pruner}; use null, {' or '.join(PRUNERS)}")
        self.pruner = pruner
        for key, value, low in (("n_trials", n_trials, 1), ("workers", workers, 1), ("retries", retries, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UserError(f"hydra.sweeper.{key}={value}; give a whole number of at least {low}")
        self.direction, self.study_name, self.storage_url = direction, study_name, storage
        self.n_trials, self.workers, self.retries = n_trials, workers, retries
        self.sampler, self.params = sampler, params  # sampler: a partial (the config's _partial_: true)

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.sweep_dir = Path(config.hydra.sweep.dir)
        if self.workers > 1 and type(self.launcher).__name__ == "BasicLauncher":
            raise UserError(
                f"hydra.sweeper.workers={self.workers} needs a launcher that runs jobs at once: "
                "hydra/launcher=workers on this machine, hydra/launcher=slurm on a cluster"
            )

    def sweep(self, arguments: list[str]) -> None:
        from optuna.distributions import distribution_to_json
        from optuna.trial import TrialState

        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        space, fixed = search_space([*params, *arguments])
        signature = {k: distribution_to_json(v) for k, v in space.items()} | {f"fixed:{k}": v for k, v in fixed.items()}
        study = open_study(
            self.study_name or "study",
            storage_for(self.storage_url, self.sweep_dir),
            self.direction,
            self.sampler,
            signature,
            self.retries,
            "give a new hydra.sweeper.study_name or another hydra.sweep.dir",
            lambda number: value_in_folder(self.sweep_dir, number),
        )
        where = self.storage_url or self.sweep_dir / JOURNAL
        log.info(
            "study %s in %s: %d of %d trials finished, %d at once",
            study.study_name,
            where,
            finished(study),
            self.n_trials,
            self.workers,
        )
        while (left := self.n_trials - finished(study)) > 0:
            # two trials a worker at a time: the launcher hands each to the next free worker, so a short trial
            # does not wait for a long one (a batch of one per worker did: 0.88 of one worker's time, not 0.5)
            # (on this machine's joblib workers; a cluster launcher gets `workers` jobs at a time)
            local = type(self.launcher).__name__ == "JoblibLauncher"
            batch = 2 * self.workers if local and self.workers > 1 else self.workers
            trials = [study.ask(space) for _ in range(min(batch, left))]
            overrides = [
                tuple(f"{k}={v}" for k, v in {**t.params, **fixed, **self.reporting(study, t)}.items()) for t in trials
            ]
            try:
                returns = list(self.launcher.launch(overrides, initial_job_idx=trials[0].number))
            except Exception as err:  # a worker process killed, a job lost: each trial's run folder tells
                log.error(
                    "the launcher lost a batch of trials (%s); their run folders say which finished",
                    (str(err).strip().splitlines() or [type(err).__name__])[0],
                )
                returns = [None] * len(trials)
            for trial, ret in zip(trials, returns, strict=True):
                value = self.value(ret) if ret is not None else value_in_folder(self.sweep_dir, trial.number)
                if study._storage.get_trial(trial._trial_id).user_attrs.get("pruned_at") is not None:
                    study.tell(trial, state=TrialState.PRUNED)  # the last value it reported counts
                elif value is None:
                    study.tell(trial, state=TrialState.FAIL)
                    retry(study, trial.number, trial.params, trial.user_attrs, self.retries)
                else:
                    study.tell(trial, value)
        self.write_results(study)

    def reporting(self, study, trial) -> dict[str, str]:
        """The overrides that let a trial's run report to the study (PruneTrial), when there is a pruner."""
        if self.pruner is None:
            return {}
        storage = self.storage_url or str((self.sweep_dir / JOURNAL).resolve())
        return {
            "study.storage": storage,
            "study.name": study.study_name,
            "study.trial": str(trial.number),
            "study.pruner": self.pruner,
        }

    @staticmethod
    def value(ret) -> float | None:
        """The job's objective, or None when it failed (an exception, no number, not a number)."""
        if ret.status != JobStatus.COMPLETED:
            log.error("a trial failed: %s", str(ret._return_value).strip().splitlines()[:1])
            return None
        try:
            value = float(ret.return_value)
        except (TypeError, ValueError):
            return None
        return value if not math.isnan(value) else None

    def write_results(self, study) -> None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        results = {
            "name": "optuna",
            "study": study.study_name,
            "trials": len(trials),
            "complete": len(complete),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "failed": sum(t.state == TrialState.FAIL for t in trials),
            "by_trial": [
                {
                    "number": t.number,
                    "state": t.state.name.lower(),
                    "value": t.value,
                    "last_epoch": t.last_step,
                    "params": t.params,
                }
                for t in trials
            ],
        }
        if complete:
            best = study.best_trial
            results |= {"best_params": best.params, "best_value": best.value, "best_trial": best.number}
            log.info("best trial %d: %s = %s", best.number, best.params, best.value)
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")


def prune_callback(cfg: DictConfig):
    """src.run.callbacks.PruneTrial for this run: a study's trial with a pruner (cfg.study set); else None."""
    if cfg.get("study") is None or cfg.study.trial is None or cfg.study.pruner is None:
        return None  # before importing optuna: a run outside a study does not need the search extra
    import optuna

    from src.run.callbacks import PruneTrial

    if "://" in str(cfg.study.storage):
        storage = optuna.storages.get_storage(cfg.study.storage)
    else:  # the journal file in the study's folder
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(cfg.study.storage)))
    study = optuna.load_study(study_name=cfg.study.name, storage=storage, pruner=make_pruner(cfg.study.pruner))
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, int(cfg.study.trial))
    return PruneTrial(optuna.trial.Trial(study, trial_id), cfg.task.monitor, cfg.study.pruner)
