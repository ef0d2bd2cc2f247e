"""The paper's resize / crop / flip, on PIL images with an explicit random generator, and for
small training sets a scale jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from musical_inpaint.imaging import from_uint8

PAPER_LOAD_RATIO = 350 / 256  # Paris / Places: short side 350 before a random 256 crop


def train_load_size_for(crop_size: int) -> int:
    """The training short side for a crop, at the paper's ratio: 350 for 256, 88 for 64."""
    return round(crop_size * PAPER_LOAD_RATIO)


@dataclass(frozen=True)
class ResizeCrop:
    """Resize the short side to `load_size` (bicubic), crop `crop_size` x `crop_size` (random or
    centre), optionally flip horizontally at random. Images smaller than the crop are upscaled.

    Paper, Paris / Places training: load 350, random 256 crop, flip. CelebA training and every
    test set: load 256, centre 256 crop.

    `max_load_size` turns on a scale jitter: each call draws the short side uniformly from
    [load_size, max_load_size], so that a small training set shows each photo at many scales,
    from the whole view a test image has (load_size = crop_size) to a detail of it.
    """

    load_size: int
    crop_size: int
    random_crop: bool = False
    flip: bool = False
    max_load_size: int | None = None

    def __post_init__(self) -> None:
        if self.crop_size < 1 or self.load_size < self.crop_size:
            raise ValueError(
                f"ResizeCrop: need 1 <= crop_size <= load_size, got crop_size={self.crop_size}, "
                f"load_size={self.load_size}"
            )
        if self.max_load_size is not None and self.max_load_size < self.load_size:
            raise ValueError(
                f"ResizeCrop: need load_size <= max_load_size, got {self.load_size} and {self.max_load_size}"
            )

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """-> 3 x crop x crop float tensor in [-1, 1]."""
        return self.crop(self.resize(image), rng)

    def resize(self, image: Image.Image) -> Image.Image:
        """The deterministic part (a cache may keep its result): the short side to `load_size`,
        or with the scale jitter to `max_load_size`, the largest that `crop` will draw."""
        return _resize_short_side(image, self.max_load_size or self.load_size)

    def crop(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """The random part, on a resized image: the jittered scale, the crop and the flip."""
        if self.max_load_size is not None:
            image = _resize_short_side(image, int(rng.integers(self.load_size, self.max_load_size + 1)))
        spare_x, spare_y = image.width - self.crop_size, image.height - self.crop_size
        if self.random_crop:
            left, top = int(rng.integers(spare_x + 1)), int(rng.integers(spare_y + 1))
        else:
            left, top = spare_x // 2, spare_y // 2
        array = np.array(image.crop((left, top, left + self.crop_size, top + self.crop_size)))
        if self.flip and rng.random() < 0.5:
            array = array[:, ::-1]
        return from_uint8(array)


def _resize_short_side(image: Image.Image, short_side: int) -> Image.Image:
    scale = short_side / min(image.size)
    size = (max(short_side, round(image.width * scale)), max(short_side, round(image.height * scale)))
    return image.resize(size, Image.BICUBIC) if size != image.size else image
