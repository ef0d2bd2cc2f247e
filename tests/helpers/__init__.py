"""Shared test scaffolding: paths, real image files, tiny configs and dataset layouts (test
modules import from here, never from each other)."""

from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
CONFIG_DIR = REPO / "conf"


def write_image(path: Path, width: int, height: int, seed: int = 0, mode: str = "RGB") -> Path:
    """A real image file of the given size: smooth colour gradients plus noise, JPEG or PNG by suffix."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs / width, ys / height, (xs + ys) / (width + height)], -1) * 200
    array = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
