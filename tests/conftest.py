"""Fixtures; the helpers they use live in tests/helpers."""

from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA
from tests.helpers.runs import Fit, TrainedRun, train_run


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def adversarial_run(tmp_path_factory) -> TrainedRun:
    """A tiny model trained for 4 steps with a discriminator, validated at steps 2 and 4: a real
    run folder of a real run, trained once for every test that reads it (none may change it)."""
    return train_run(tmp_path_factory.mktemp("adversarial_run"), "adv_weight=0.3")


@pytest.fixture(scope="session")
def checkpoint(adversarial_run) -> Path:
    """The last checkpoint of `adversarial_run`."""
    return adversarial_run.last


@pytest.fixture
def fits(monkeypatch) -> list[Fit]:
    """Every Trainer.fit the test makes, in order, with the module's weights as each fit began."""
    import lightning as L

    records: list[Fit] = []
    fit = L.Trainer.fit

    def recorded(trainer, module, *args, **kwargs):
        initial = {name: value.detach().cpu().clone() for name, value in module.state_dict().items()}
        records.append(Fit(trainer, module, initial))
        return fit(trainer, module, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "fit", recorded)
    return records
