"""The project's task classes by name: the only way a name read from a file (a checkpoint) becomes
code. A name that is not a key here is refused; nothing is ever imported or looked up by a dotted path."""

from src.tasks.base import RecurrentTask
from src.tasks.classification import SequenceClassifier
from src.tasks.labelling import StepLabeller
from src.tasks.language_model import CharLanguageModel
from src.tasks.seq2seq import Seq2Seq

TASK_CLASSES: dict[str, type[RecurrentTask]] = {
    cls.__name__: cls for cls in (SequenceClassifier, CharLanguageModel, StepLabeller, Seq2Seq)
}
# Checkpoints written before the registry saved the full dotted path of their class: the exact
# strings this version's classes would have written are accepted, as plain keys (no lookup by path).
LEGACY_NAMES = {f"{cls.__module__}.{cls.__qualname__}": name for name, cls in TASK_CLASSES.items()}


def task_class(name: str) -> type[RecurrentTask] | None:
    """The task class saved under `name` in a checkpoint, or None when it is not one of ours."""
    name = LEGACY_NAMES.get(name, name) if isinstance(name, str) else None
    return TASK_CLASSES.get(name)
