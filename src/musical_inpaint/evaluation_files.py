"""The evaluation as files, for methods that run elsewhere (LaMa, MAT, DeepFill, ...): the test
images and masks an evaluation uses written as PNG files, and a folder of another method's
results read back to be scored beside this project's models, on the same holes, with the same
metric code.

    python -m musical_inpaint.evaluate dataset=paris mask=free_form write_inputs=DIR
    (run your method on DIR/images and DIR/masks, writing RESULTS/<stem>.png)
    python -m musical_inpaint.evaluate dataset=paris mask=free_form method=[results,telea] results=RESULTS

The images are the test images exactly as scored (resized and cropped to crop_size); the masks
are white (255) where the hole is. Results are matched to the test images by file stem and must
have their size; known pixels are taken from the test image, as for every method here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from musical_inpaint.data.images import by_stem, list_images, read_rgb
from musical_inpaint.errors import UserError
from musical_inpaint.imaging import from_uint8, to_uint8
from musical_inpaint.inpaint import write_png


class EvaluationFilesError(UserError, ValueError):
    """The inputs cannot be written, or a results folder does not match the test images."""


KNOWN_PIXELS_TOLERANCE = 4.0  # 8-bit levels: a lossy format's error, far below another image's


def scored_names(dataset: Dataset, limit: int | None = None) -> list[str]:
    """The names of the test images an evaluation scores (the first `limit`), unread."""
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return [dataset.name(index) for index in range(count)]


def check_every_image_read(dataset: Dataset, option: str) -> None:
    """Files matched by name need each image to be itself: on_corrupt=skip would serve another."""
    if getattr(dataset, "on_corrupt", "fail") == "skip":
        raise EvaluationFilesError(
            f"{option} needs dataset.on_corrupt=fail: a skipped image would be served as another"
        )


def write_inputs(folder: Path, dataset: Dataset, limit: int | None, cfg: DictConfig) -> int:
    """The test images (`images/<stem>.png`) and their masks (`masks/<stem>.png`, white = hole)
    as the evaluation scores them, and `inputs.json` (dataset, mask, seed); refuses a folder that
    already holds any of them. Returns the number of images written."""
    option = f"write_inputs={folder}"
    check_every_image_read(dataset, option)
    names = scored_names(dataset, limit)
    by_stem([Path(name) for name in names], option)  # one file per stem
    taken = [path for path in (folder / "images", folder / "masks", folder / "inputs.json") if path.exists()]
    if taken:
        raise EvaluationFilesError(f"{option}: {taken[0]} exists; choose an empty folder (nothing is ever overwritten)")
    try:
        for index in range(len(names)):
            item = dataset[index]
            stem = Path(item["name"]).stem
            write_png(Image.fromarray(to_uint8(item["image"])), folder / "images" / f"{stem}.png")
            hole = (item["mask"][0].numpy() > 0.5).astype(np.uint8) * 255
            write_png(Image.fromarray(hole, mode="L"), folder / "masks" / f"{stem}.png")
        about = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("dataset", "mask")}
        about.update(seed=cfg.seed, crop_size=cfg.crop_size, images=len(names))
        (folder / "inputs.json").write_text(json.dumps(about, indent=2) + "\n")
    except OSError as error:
        raise EvaluationFilesError(f"{option}: cannot write there: {error}") from None
    return len(names)


class ResultsFolder:
    """Another method's inpainted images in `root`, one per test image, matched by file stem
    (any image suffix, searched recursively). Every test image must have its result, of the test
    image's size, and every result a test image: checked up front from the files' headers. A
    result that differs from its test image outside the hole by more than a lossy format would
    is reported (`mismatched`): it was made from other images or holes."""

    def __init__(self, root: str | Path, names: list[str], all_names: list[str], size: tuple[int, int]) -> None:
        self.root = Path(root)
        option = f"results={root}"
        if not self.root.is_dir():
            raise EvaluationFilesError(f"{option} is not a folder of inpainted images")
        self.files = by_stem(list_images(self.root), option)
        missing = [name for name in names if Path(name).stem not in self.files]
        if missing:
            raise EvaluationFilesError(
                f"{option} holds {len(self.files)} image(s) but none with the stem of {missing[0]} "
                f"({len(missing)} of the {len(names)} test images have no result)"
            )
        known = {Path(name).stem for name in all_names}
        stray = [path for stem, path in self.files.items() if stem not in known]
        if stray:
            raise EvaluationFilesError(
                f"{option}: {stray[0]} matches no test image by stem ({len(stray)} such file(s)); "
                "is this the folder for this dataset and split?"
            )
        self.size = size  # (width, height)
        for name in names:
            with Image.open(self.files[Path(name).stem]) as opened:
                self._check_size(self.files[Path(name).stem], opened.size)
        self.mismatched: list[tuple[Path, float]] = []  # (result, mean difference outside the hole)

    def _check_size(self, path: Path, size: tuple[int, int]) -> None:
        if size != self.size:
            raise EvaluationFilesError(
                f"{path} is {size[0]}x{size[1]}, the test image {self.size[0]}x{self.size[1]} "
                "(results must keep the size of the images write_inputs wrote)"
            )

    def __call__(self, image: Tensor, mask: Tensor, names: list[str]) -> Tensor:
        """The results of the images `names`, as a batch in [-1, 1] like `image`."""
        results = []
        for name in names:
            path = self.files[Path(name).stem]
            pixels = read_rgb(path)
            self._check_size(path, pixels.size)
            results.append(np.array(pixels))
        filled = from_uint8(np.stack(results)).to(image.device, torch.float32)
        known = 1 - mask
        differences = ((filled - image).abs() * known).sum((1, 2, 3)) * 127.5 / (3 * known.sum((1, 2, 3))).clamp(min=1)
        for name, difference in zip(names, differences.tolist()):
            if difference > KNOWN_PIXELS_TOLERANCE:
                self.mismatched.append((self.files[Path(name).stem], difference))
        return filled

    def warning(self) -> str | None:
        """What `mismatched` means for the scores, or None when every result fits its image."""
        if not self.mismatched:
            return None
        path, difference = max(self.mismatched, key=lambda pair: pair[1])
        return (
            f"results={self.root}: {len(self.mismatched)} result(s) differ from their test image outside the "
            f"hole by more than {KNOWN_PIXELS_TOLERANCE:g} levels of 255 on average (worst: {path}, "
            f"{difference:.1f}): were they made from write_inputs' images, with these dataset, mask and seed "
            "options? Scores are computed in this evaluation's holes."
        )
