"""The photos test sets as `python -m musical_inpaint.evaluate` reads them, for the experiments'
scripts: one split with its fixed holes, and a grid of fills beside the classical methods'.

The scripts import it from this folder (`sys.path.insert(0, <experiments>)`), as they run as files."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.utils import save_image

from musical_inpaint.baselines import fill_with
from musical_inpaint.config import compose_config
from musical_inpaint.imaging import composite, to_unit
from musical_inpaint.inference import predict


def photos_test_split(data_dir: str | Path, test_set: str, crop_size: int) -> Dataset:
    """A photos test set (`dataset=photos dataset.test_set=...`) at `crop_size` under evaluate's
    protocol: the images as `python -m musical_inpaint.evaluate` reads them, with their fixed holes."""
    cfg = compose_config(
        "evaluate",
        [
            "dataset=photos",
            f"dataset.test_set={test_set}",
            f"paths.data_dir={data_dir}",
            f"crop_size={crop_size}",
            "dataset.num_workers=0",
        ],
    )
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("test")
    return datamodule.datasets["test"]


def comparison_grid(
    generators: list[nn.Module],
    data_dir: str | Path,
    crop_size: int,
    path: Path,
    count: int = 4,
    test_sets: tuple[str, ...] = ("bsds500", "urban100"),
) -> None:
    """A PNG of the first `count` images of each photos test set under evaluate's protocol, one row
    each: masked input | Telea | PatchMatch | each generator's composite | ground truth."""
    rows = []
    for test_set in test_sets:
        batch = next(iter(DataLoader(photos_test_split(data_dir, test_set, crop_size), batch_size=count)))
        image, mask = batch["image"], batch["mask"]
        filled = [composite(predict(generator, image, mask), image, mask) for generator in generators]
        rows.append(
            torch.stack(
                [
                    image * (1 - mask) + mask,
                    fill_with("telea", image, mask),
                    fill_with("patchmatch", image, mask),
                    *filled,
                    image,
                ],
                1,
            )
        )
    grid = torch.cat(rows)
    save_image(to_unit(grid.flatten(0, 1)), path, nrow=grid.shape[1], padding=2, pad_value=1)
