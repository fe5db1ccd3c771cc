"""The project's Optuna sweeper as a Hydra plugin (`hydra/sweeper=study`, conf/hydra/sweeper/study.yaml).

Hydra instantiates sweepers only from the hydra_plugins package; everything it does is src/run/study.py.
What the user can fix (a bad option, a storage that cannot be opened, a study name taken by another
search space) is one `error:` line and exit status 2, as everywhere in the project.
"""

import sys
from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig


def one_line(call):
    from src.errors import EXIT_USER_ERROR, UserError

    try:
        return call()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


class StudySweeper(Sweeper):
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
        from src.run.study import Study

        self.study = one_line(
            lambda: Study(direction, study_name, storage, n_trials, workers, sampler, params, retries, pruner)
        )

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        one_line(lambda: self.study.setup(hydra_context=hydra_context, task_function=task_function, config=config))

    def sweep(self, arguments: list[str]) -> None:
        return one_line(lambda: self.study.sweep(arguments))
