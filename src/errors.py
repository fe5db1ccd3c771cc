"""The one exception type for problems a user can fix (a wrong path, a malformed file, an option
that does not apply). Entry points print it as one line and exit with status 2; everything else is
a bug and keeps its traceback."""


class UserError(Exception):
    """What was wrong and what to do about it, in one line."""


EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # a shell's status for a command stopped by Ctrl-C (128 + SIGINT)


def exit_status(call, *args) -> int:
    """`call(*args)` with a UserError printed as one `error:` line on stderr: the process's exit status."""
    import sys

    try:
        call(*args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
