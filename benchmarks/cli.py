"""What the benchmark commands share: their own key=value options, every other argument passed to
each training run as an override, and bad input as one `error:` line with exit status 2."""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from src.errors import EXIT_USER_ERROR, UserError
from src.nn.recurrent import CORES
from src.paths import CONF_DIR

# every task (a conf/task/*.yaml, so a new task is benchmarked with no edit here): the course's in
# the order the benchmarks print them, then any other in name order; and every cell
COURSE_ORDER = ("names", "dinos", "pairs", "translate", "binary", "hello")
TASKS = tuple(
    sorted(
        (p.stem for p in (Path(CONF_DIR) / "task").glob("*.yaml")),
        key=lambda t: (COURSE_ORDER.index(t) if t in COURSE_ORDER else len(COURSE_ORDER), t),
    )
)
CELLS = CORES  # every model= choice, the transformer too
# what the timed benchmarks (speed, quality) run unless told cells=: the three classic cells, whose
# published times and tables they reproduce; cells=mingru,minlstm (or any) times the others
CLASSIC_CELLS = ("rnn", "lstm", "gru")


def split_args(argv: list[str], defaults: dict) -> tuple[dict, list[str]]:
    """(options: `defaults` updated with the arguments named in it, as strings; overrides: the rest)."""
    options, overrides = dict(defaults), []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key in defaults:
            options[key] = value
        else:
            overrides.append(arg)
    return options, overrides


def choices(key: str, value: str, allowed: tuple[str, ...]) -> str:
    """A comma-separated list whose items are all in `allowed`, else a UserError naming the first stray."""
    bad = [v or "empty" for v in str(value).split(",") if v not in allowed]
    if bad:
        raise UserError(f"{key}={value}: {bad[0]} is not one of {', '.join(allowed)}")
    return str(value)


def whole_number(key: str, value) -> int:
    if not str(value).isdigit() or int(value) < 1:
        raise UserError(f"{key}={value}; give a whole number of at least 1")
    return int(value)


def check_overrides(overrides: list[str], tasks: list[str]) -> None:
    """Compose the train config with `overrides` for each task, so that a bad override fails here,
    in one line, before any run starts (a sweep in a subprocess would fail later, at length)."""
    from src.run.checks import check_config
    from src.run.resolvers import register_resolvers

    register_resolvers()
    for task in tasks:
        try:
            with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
                check_config(compose(config_name="train", overrides=[f"task={task}", *overrides]))
        except HydraException as err:
            raise UserError(f"{str(err).strip().splitlines()[0]} (task={task}); train overrides are key=value") from err


def run(main) -> None:
    """`main(sys.argv[1:])`, with what the user can fix printed as one line; -h/--help prints what the
    benchmark does and its options (its module's docstring)."""
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        print((sys.modules[main.__module__].__doc__ or "").strip())
        return
    try:
        main(argv)
    except (UserError, HydraException, OmegaConfBaseException) as err:  # a bad override or value
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
