"""Every option of the `dataset` and `mask` config groups composes and instantiates."""

import lightning as L
import pytest
from hydra.utils import instantiate

from musical_inpaint.data import CenterMask, FolderMask, FreeFormMask, InpaintingDataModule, RandomBoxMask
from musical_inpaint.data.masks import FREE_FORM_PRESETS
from tests.helpers import CONFIG_DIR, write_image
from tests.helpers.configs import compose_train
from tests.helpers.layouts import make_celeba, make_paris, make_photos, make_places_small

DATASETS = sorted(p.stem for p in (CONFIG_DIR / "dataset").glob("*.yaml"))
MASKS = sorted(p.stem for p in (CONFIG_DIR / "mask").glob("*.yaml"))


def test_groups_hold_the_expected_options():
    assert DATASETS == ["celeba", "folder", "paris", "photos", "places", "synthetic"]
    assert MASKS == ["center", "folder", "free_form", "random_box"]


def test_default_is_the_synthetic_dataset_with_the_centre_hole():
    datamodule = instantiate(compose_train([]).dataset)
    assert type(datamodule).__name__ == "SyntheticDataModule" and datamodule.mask == CenterMask(0.5)
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (5, 3, 256, 256) and batch["mask"][0, 0, 64:192, 64:192].all()


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("mask", MASKS)
def test_every_dataset_and_mask_instantiates(dataset, mask, tmp_path):
    overrides = [f"dataset={dataset}", f"mask={mask}", f"paths.data_dir={tmp_path}"]
    if dataset == "folder":
        overrides.append(f"dataset.root={tmp_path}/mine")
    if mask == "folder":
        overrides.append(f"mask.root={write_image(tmp_path / 'masks' / 'a.png', 8, 8).parent}")
    datamodule = instantiate(compose_train(overrides).dataset)
    assert isinstance(datamodule, L.LightningDataModule) and isinstance(datamodule, InpaintingDataModule)
    kinds = {"center": CenterMask, "folder": FolderMask, "free_form": FreeFormMask, "random_box": RandomBoxMask}
    assert isinstance(datamodule.mask, kinds[mask])
    assert datamodule.batch_size == 5


@pytest.mark.parametrize("preset", sorted(FREE_FORM_PRESETS))
def test_free_form_presets_from_the_command_line(preset):
    assert instantiate(compose_train(["mask=free_form", f"mask.preset={preset}"]).mask) == FreeFormMask(preset)


@pytest.mark.parametrize(
    "dataset, make, train_count, test_count",
    [
        ("celeba", make_celeba, 8, 2),
        ("paris", make_paris, 6, 4),
        ("places", make_places_small, 5, 3),
        ("photos", make_photos, 85, 2),
    ],
)
def test_configured_benchmarks_load_their_layouts(dataset, make, train_count, test_count, tmp_path):
    make(tmp_path if dataset == "photos" else tmp_path / dataset)  # photos: the folders sit in data_dir
    config = compose_train(
        [f"dataset={dataset}", f"paths.data_dir={tmp_path}", "crop_size=64", "dataset.num_workers=0"]
    )
    datamodule = instantiate(config.dataset)
    datamodule.setup()
    assert len(datamodule.datasets["train"]) + len(datamodule.datasets["val"]) == train_count
    assert len(datamodule.datasets["test"]) == test_count
    assert next(iter(datamodule.test_dataloader()))["image"].shape[1:] == (3, 64, 64)


def test_folder_dataset_requires_a_root():
    from omegaconf.errors import MissingMandatoryValue

    with pytest.raises(MissingMandatoryValue, match="root"):
        instantiate(compose_train(["dataset=folder"]).dataset)
