"""Where the Hydra configuration lives."""

from pathlib import Path

# The `conf/` folder of the source tree; the package is installed in editable mode (make install).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
