"""Train any task with any recurrent cell: `python -m src.train task=names model=gru`.

A thin command: `cli(argv)` checks the command line and hands it to Hydra, `main(cfg)` runs one run
(each job of a sweep) with `train(cfg)` of the run library (src/run/build.py) and turns a UserError
into one line.
"""

import logging
import math
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from src.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from src.paths import CONF_DIR
from src.run.build import train
from src.run.checks import check_choices, preflight
from src.run.resolvers import register_resolvers

log = logging.getLogger(__name__)


def cli(argv: list[str] | None = None) -> int:
    """`python -m src.train argv...`: 0 when every run finished (an error exits with its status)."""
    if argv is not None:
        sys.argv[1:] = argv  # Hydra reads the command line from sys.argv
    argv = sys.argv[1:]
    register_resolvers()
    check_choices(argv)
    if "experiment=fair_cells" in argv:  # a study per cell, then seeds: its own command, not a sweep
        options = " ".join(a for a in argv if a not in ("-m", "--multirun", "experiment=fair_cells"))
        print(
            f"error: experiment=fair_cells is its own command: python -m src.fair_cells {options}".rstrip(),
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    preflight(argv)
    main()
    return 0


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        results = train(cfg)
    except UserError as err:
        from src.run.console import route_library_logs

        route_library_logs()  # the reason in train.log, where compare finds it
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # one line, and the sweep goes on: its compare table lists this job with the reason. The
            # objective is the worst there is, so a search (Optuna) goes on too and ranks the job last.
            log.error("error: %s", err)
            return -math.inf if cfg.task.monitor_mode == "max" else math.inf
        log.error("error: %s", err, extra={"file_only": True})
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:  # Ctrl-C before fit (data setup, building the model): Lightning handles it in fit
        message = "stopped by Ctrl-C before training started: nothing was trained; run the command again"
        log.warning(message, extra={"file_only": True})
        print(message, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    return results["best_val"].get(cfg.task.monitor)  # the objective a sweeper optimises


if __name__ == "__main__":
    sys.exit(cli())
