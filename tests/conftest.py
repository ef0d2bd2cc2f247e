"""Fixtures; the helpers they use live in tests/helpers."""

from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny model trained for a few steps, with a discriminator: a real checkpoint of a real run."""
    from musical_inpaint.train import train
    from tests.helpers.configs import tiny_config

    folder = tmp_path_factory.mktemp("run")
    train(tiny_config(folder, "adv_weight=0.3", "trainer.max_steps=4"))
    return folder / "checkpoints" / "last.ckpt"
