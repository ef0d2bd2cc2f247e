from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny model trained for a few steps, with a discriminator: a real checkpoint of a real run."""
    from musical_inpaint.train import train
    from tests.test_training import tiny_config

    folder = tmp_path_factory.mktemp("run")
    train(tiny_config(folder, "adv_weight=0.3", "trainer.max_steps=4"))
    return folder / "checkpoints" / "last.ckpt"
