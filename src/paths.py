"""Where the project's files are: the checkout (`CHECKOUT`), the Hydra configs (`CONF_DIR`) and the
data sets (`default_data_dir()`, also conf's `${default_data_dir:}`, registered in src/run/resolvers.py).
"""

import os
from pathlib import Path

# The Hydra configs sit beside the package (the project is installed editable: pip install -e .).
# An absolute path lets the entry points find them however they are started (python -m, tests).
CHECKOUT = Path(__file__).resolve().parent.parent
CONF_DIR = str(CHECKOUT / "conf")


def default_data_dir() -> str:
    """Where the data sets are, the same for `make`, `python -m ...` from any folder, and the tests:
    RNNLAB_DATA_DIR when set; else the offline copy `../shared/data` when it sits beside the checkout
    (the project's machines have no internet); else `data/` in the checkout, where missing files are
    downloaded. `paths.data_dir=DIR` on the command line overrides it."""
    if os.environ.get("RNNLAB_DATA_DIR"):
        return os.environ["RNNLAB_DATA_DIR"]
    shared = CHECKOUT.parent / "shared" / "data"
    return str(shared if shared.is_dir() else CHECKOUT / "data")
