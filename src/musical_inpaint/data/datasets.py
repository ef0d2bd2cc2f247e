"""Map-style datasets yielding {"image", "mask", "index", "name"} dicts.

image: 3 x H x W float in [-1, 1]; mask: 1 x H x W float, 1 = hole.
Randomness: training items draw their seed from torch's generator (seeded per worker by the
DataLoader, so a run seeded with `seed_everything(..., workers=True)` is reproducible);
evaluation items use a generator fixed by (seed, index), so every run and every process sees
the same crop and mask for the same image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from musical_inpaint.data.images import ImageReadError, read_rgb
from musical_inpaint.data.synthetic import synthetic_image
from musical_inpaint.data.transforms import ResizeCrop
from musical_inpaint.imaging import from_uint8

log = logging.getLogger(__name__)

MaskGenerator = Callable[[int, int, np.random.Generator], np.ndarray]
ON_CORRUPT = ("fail", "skip")


def _item_generators(deterministic: bool, seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the image (crop, flip) and for the mask."""
    entropy = [seed, index] if deterministic else int(torch.randint(0, 2**62, ()).item())
    image_seq, mask_seq = np.random.SeedSequence(entropy).spawn(2)
    return np.random.default_rng(image_seq), np.random.default_rng(mask_seq)


def _mask_tensor(mask: MaskGenerator, height: int, width: int, rng: np.random.Generator, name: str) -> torch.Tensor:
    hole = mask(height, width, rng, name=name) if getattr(mask, "by_name", False) else mask(height, width, rng)
    return torch.from_numpy(np.ascontiguousarray(hole, dtype=np.float32))[None]


def _check_mask_names(mask: MaskGenerator, names: list[str]) -> None:
    """A mask generator that matches images by name (`FolderMask`) checks them all up front."""
    if getattr(mask, "by_name", False):
        mask.check_names(names)


class ImageFilesDataset(Dataset):
    """Images read from `files`, transformed, each with a hole mask.

    on_corrupt: "fail" raises an error naming the unreadable file; "skip" logs it, counts it and
    serves the next readable image instead.
    cache: keep every image after its (deterministic) resize in memory, so that later epochs only
        crop: for small sets at small sizes, whose decoding would otherwise cost more than the
        training step (each DataLoader worker keeps its own copy).
    """

    def __init__(
        self,
        files: Sequence[Path],
        transform: ResizeCrop,
        mask: MaskGenerator,
        deterministic: bool,
        seed: int = 0,
        on_corrupt: str = "fail",
        cache: bool = False,
    ) -> None:
        if on_corrupt not in ON_CORRUPT:
            raise ValueError(f"on_corrupt must be one of {ON_CORRUPT}, got {on_corrupt!r}")
        self.files = list(files)
        self.transform, self.mask = transform, mask
        self.deterministic, self.seed, self.on_corrupt = deterministic, seed, on_corrupt
        self.skipped: list[Path] = []  # per process: each DataLoader worker keeps its own count
        self.cache: dict[int, tuple[Path, Image.Image]] | None = {} if cache else None
        _check_mask_names(mask, [path.name for path in self.files])

    def __len__(self) -> int:
        return len(self.files)

    def name(self, index: int) -> str:
        """The file name of image `index` (its item's "name"), without reading it."""
        return self.files[index].name

    def __getitem__(self, index: int) -> dict:
        image_rng, mask_rng = _item_generators(self.deterministic, self.seed, index)
        if self.cache is not None and index in self.cache:
            path, resized = self.cache[index]
        else:
            path, image = self._read(index)
            resized = self.transform.resize(image)
            if self.cache is not None:
                self.cache[index] = path, resized
        tensor = self.transform.crop(resized, image_rng)
        return dict(
            image=tensor,
            mask=_mask_tensor(self.mask, *tensor.shape[-2:], mask_rng, path.name),
            index=index,
            name=path.name,
        )

    def _read(self, index: int) -> tuple[Path, Image.Image]:
        """Image `index`, or with on_corrupt=skip the next readable one."""
        for attempt in range(len(self.files)):
            path = self.files[(index + attempt) % len(self.files)]
            try:
                return path, read_rgb(path)
            except ImageReadError as error:
                if self.on_corrupt == "fail":
                    raise ImageReadError(f"{error} (set on_corrupt=skip to skip unreadable images)") from None
                self.skipped.append(path)
                log.warning("skipping unreadable image %s (%d skipped so far in this process)", path, len(self.skipped))
        raise ImageReadError(f"none of the {len(self.files)} images can be read (first: {self.files[0]})")


class SyntheticDataset(Dataset):
    """`length` procedural images (see `synthetic_image`), image `index` fixed by (seed, index)."""

    def __init__(self, length: int, size: int, mask: MaskGenerator, deterministic: bool, seed: int = 0) -> None:
        if length < 1 or size < 16:
            raise ValueError(f"SyntheticDataset: need length >= 1 and size >= 16, got {length}, {size}")
        self.length, self.size, self.mask = length, size, mask
        self.deterministic, self.seed = deterministic, seed
        _check_mask_names(mask, [self.name(index) for index in range(length)])

    def name(self, index: int) -> str:
        return f"synthetic_{self.seed}_{index:06d}"

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} synthetic images")
        image = synthetic_image(self.size, np.random.default_rng([self.seed, index]))
        _, mask_rng = _item_generators(self.deterministic, self.seed, index)
        return dict(
            image=from_uint8(image),
            mask=_mask_tensor(self.mask, self.size, self.size, mask_rng, self.name(index)),
            index=index,
            name=self.name(index),
        )
