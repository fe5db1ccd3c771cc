"""What the benchmark commands share: their own key=value options, every other argument passed to
each training run as an override, and bad input as one `error:` line with exit status 2."""

import sys

from hydra.errors import ConfigCompositionException, InstantiationException

from src.errors import EXIT_USER_ERROR, UserError


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


def run(main) -> None:
    """`main(sys.argv[1:])`, with what the user can fix printed as one line."""
    try:
        main(sys.argv[1:])
    except (UserError, ConfigCompositionException, InstantiationException) as err:
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
