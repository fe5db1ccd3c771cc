"""Reading the data sets' text files, with one error policy: every problem names the file, and the
line where there is one, and says what to do."""

from pathlib import Path

from src.errors import UserError

# the longest line a data set may have: a name, a word or a sentence. Batches are padded to their longest
# item, so one runaway line (a file without line breaks) would ask for gigabytes before the first step.
MAX_DATA_LINE = 2000


def read_lines(
    path: str | Path, what: str = "a UTF-8 text file", max_chars: int | None = None
) -> list[tuple[int, str]]:
    """(line number, line) for every line of `path`, line ends removed; `what` completes the
    sentence "give ..." in error messages. A line over `max_chars` characters is an error."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a folder; give {what}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise UserError(f"{path} does not exist; give {what}") from err
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror}); check the path and its permissions") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data[: err.start].count(b"\n") + 1
        raise UserError(f"{path}:{lineno}: not UTF-8 text; save the file as UTF-8") from err
    lines = list(enumerate(text.splitlines(), start=1))
    if max_chars is not None:
        for lineno, line in lines:
            if len(line) > max_chars:
                raise UserError(
                    f"{path}:{lineno}: a line of {len(line):,} characters; data lines are at most {max_chars:,} "
                    f"(give {what})"
                )
    return lines
