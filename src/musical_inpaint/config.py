"""Where the Hydra configuration lives: conf/ at the top of the source tree (editable installs,
`make install`), or its copy shipped inside the package by a regular `pip install`."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
CONFIG_DIR = next(
    (folder for folder in (_PACKAGE / "conf", _PACKAGE.parents[1] / "conf") if (folder / "train.yaml").is_file()),
    _PACKAGE / "conf",
)
