"""Where the Hydra configuration lives: conf/ at the top of the source tree (editable installs,
`make install`), or its copy shipped inside the package by a regular `pip install`."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

_PACKAGE = Path(__file__).resolve().parent
CONFIG_DIR = next(
    (folder for folder in (_PACKAGE / "conf", _PACKAGE.parents[1] / "conf") if (folder / "train.yaml").is_file()),
    _PACKAGE / "conf",
)


def compose_config(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The composed `train` or `evaluate` configuration with command-line style overrides, as
    `python -m musical_inpaint.train|evaluate OVERRIDES` would see it (for scripts and tests)."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))
