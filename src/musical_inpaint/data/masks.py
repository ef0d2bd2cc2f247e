"""Hole masks: the paper's centre square, random boxes, free-form brush strokes, and mask files.

A mask generator is called as `generator(height, width, rng)` with a numpy random Generator and
returns an H x W float32 array with 1 = hole. The dataset decides where `rng` comes from:
seeded draws for training, a generator fixed by (seed, image index) for evaluation, so that an
image gets the same evaluation mask in every run and on every process. A generator whose
`by_name` is true is also given the image's file name (`name=`): `FolderMask` matches its files
to the images by stem.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from musical_inpaint.data.images import ImageReadError, by_stem, list_images, read_rgb
from musical_inpaint.errors import OptionError, UserError

log = logging.getLogger(__name__)

HOLE_LEVEL = 127  # a mask pixel at or above this 8-bit level is a hole (white = hole)


class MaskFileError(UserError, ValueError):
    """A mask file cannot be read, or no mask file matches an image; the message names it."""


def open_mask(path: Path) -> Image.Image:
    """A mask file of any mode as an 8-bit grayscale image (16-bit values scaled), upright as a
    viewer shows it."""
    try:
        return read_rgb(path).convert("L")
    except ImageReadError as error:
        raise MaskFileError(f"cannot read mask {path}: {error}") from None


def hole_of(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The H x W bool hole (white >= 127) of an `open_mask` image, resized (nearest) to `size` = (W, H)."""
    return np.asarray(mask if mask.size == size else mask.resize(size, Image.NEAREST)) >= HOLE_LEVEL


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask file of any mode -> H x W bool hole (`open_mask`, `hole_of`), with a warning when it
    had to be resized to `size` = (W, H)."""
    mask = open_mask(path)
    if mask.size != size:
        log.warning("mask %s is %dx%d, the image %dx%d: resized (nearest)", path, *mask.size, *size)
    return hole_of(mask, size)


@dataclass(frozen=True)
class CenterMask:
    """A centred rectangle covering `fraction` of each side: the paper's 128 x 128 hole at 256."""

    fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"CenterMask: fraction must be in (0, 1], got {self.fraction}")

    def __call__(self, height: int, width: int, rng: np.random.Generator | None = None) -> np.ndarray:
        mask = np.zeros((height, width), np.float32)
        hole_h, hole_w = round(height * self.fraction), round(width * self.fraction)
        top, left = (height - hole_h) // 2, (width - hole_w) // 2
        mask[top : top + hole_h, left : left + hole_w] = 1
        return mask


@dataclass(frozen=True)
class RandomBoxMask:
    """An axis-aligned box whose sides are uniform fractions of the image's, placed uniformly."""

    min_fraction: float = 0.25
    max_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= self.max_fraction <= 1:
            raise ValueError(
                "RandomBoxMask: need 0 < min_fraction <= max_fraction <= 1, "
                f"got {self.min_fraction}, {self.max_fraction}"
            )

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((height, width), np.float32)
        hole_h = max(1, round(height * rng.uniform(self.min_fraction, self.max_fraction)))
        hole_w = max(1, round(width * rng.uniform(self.min_fraction, self.max_fraction)))
        top, left = int(rng.integers(height - hole_h + 1)), int(rng.integers(width - hole_w + 1))
        mask[top : top + hole_h, left : left + hole_w] = 1
        return mask


# Stroke presets in pixels for a 256-pixel short side (scaled with the image): ranges of
# (strokes, vertices per stroke, segment length, brush width).
FREE_FORM_PRESETS: dict[str, dict[str, tuple[int, int]]] = {
    "thin": dict(strokes=(2, 6), vertices=(4, 12), length=(10, 40), width=(4, 12)),
    "medium": dict(strokes=(1, 5), vertices=(3, 10), length=(20, 60), width=(12, 28)),
    "thick": dict(strokes=(1, 4), vertices=(2, 6), length=(30, 90), width=(28, 60)),
}


@dataclass(frozen=True)
class FreeFormMask:
    """Irregular brush strokes in the style of DeepFill v2 / LaMa: each stroke is a polyline of
    random segments drawn with a round brush. `preset` is "thin", "medium" or "thick"."""

    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in FREE_FORM_PRESETS:
            raise ValueError(f"FreeFormMask: preset must be one of {sorted(FREE_FORM_PRESETS)}, got {self.preset!r}")

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        ranges = FREE_FORM_PRESETS[self.preset]
        scale = min(height, width) / 256

        def draw(name: str) -> int:
            low, high = ranges[name]
            return int(rng.integers(low, high + 1))

        mask = np.zeros((height, width), np.uint8)
        for _ in range(draw("strokes")):
            brush = max(1, round(draw("width") * scale))
            x, y = int(rng.integers(width)), int(rng.integers(height))
            angle = rng.uniform(0, 2 * math.pi)
            for _ in range(draw("vertices")):
                angle += rng.uniform(-math.pi / 3, math.pi / 3)  # strokes bend, rarely double back
                length = draw("length") * scale
                nx = int(np.clip(x + length * math.cos(angle), 0, width - 1))
                ny = int(np.clip(y + length * math.sin(angle), 0, height - 1))
                cv2.line(mask, (x, y), (nx, ny), 1, brush)
                cv2.circle(mask, (nx, ny), brush // 2, 1, -1)
                x, y = nx, ny
        return mask.astype(np.float32)


FOLDER_MATCHES = ("stem", "random")
LAMA_MASK = re.compile(r"(?P<stem>.+)_mask\d*")  # LaMa's test sets: x.png beside x_mask000.png


def masks_by_stem(files: list[Path], what: str) -> dict[str, Path]:
    """Mask files keyed by the stem of the image each belongs to: `x_mask*.png` for image `x`
    when the folder holds such names (LaMa's layout, the images beside their masks), else the
    file's own stem. Two masks for one image are an error naming `what`."""
    lama = [path for path in files if LAMA_MASK.fullmatch(path.stem)]
    if lama:
        return by_stem(lama, what, key=lambda path: LAMA_MASK.fullmatch(path.stem)["stem"])
    return by_stem(files, what)


class FolderMask:
    """Holes read from a folder of mask images (white = hole, `read_mask`; `invert` for mask sets
    whose holes are black), e.g. the NVIDIA irregular masks or LaMa's test masks,
    resized (nearest) to each image as the network sees it (after the dataset's resize and crop).

    match: "stem" takes the mask of the image's stem (`masks_by_stem`: `a.jpg` -> `a.png` or
        `a_mask000.png`, any image suffix); "random" draws one of the folder's masks per image
        with the dataset's generator (seeded per image in evaluation, so every run sees the
        same pairs).
    """

    by_name = True  # the dataset passes the image's file name

    def __init__(self, root: str | Path, match: str = "stem", invert: bool = False) -> None:
        if match not in FOLDER_MATCHES:
            raise OptionError("mask.match", match, f"must be one of {', '.join(FOLDER_MATCHES)}")
        if not isinstance(invert, bool):
            raise OptionError("mask.invert", invert, "must be true (black = hole) or false (white = hole)")
        if not Path(root).expanduser().is_dir():
            raise OptionError("mask.root", root, "must be a folder of mask images (white = hole)")
        self.root, self.match, self.invert = root, match, invert
        self.files = list_images(Path(root).expanduser())
        if not any(_readable(path) for path in self.files):  # stops at the first that reads
            raise OptionError("mask.root", root, f"holds no readable mask image ({len(self.files)} image file(s))")
        self.by_stem = masks_by_stem(self.files, f"mask.root={root}") if match == "stem" else {}
        self.warned = False

    def __repr__(self) -> str:
        return f"FolderMask(root={str(self.root)!r}, match={self.match!r}, invert={self.invert})"

    def check_names(self, names: list[str]) -> None:
        """With match=stem, every image must have its mask, and each of them must open: an error
        naming the first images without one, or the first mask that is not an image."""
        if self.match != "stem":
            return
        self._require(names)
        for name in names:
            path = self.by_stem[Path(name).stem]
            try:
                Image.open(path).close()  # the header: a file that is not an image fails here, named
            except (OSError, ValueError) as error:
                raise MaskFileError(f"cannot read mask {path}: {error}") from None

    def _require(self, names: list[str]) -> None:
        """An error naming the first images of `names` that have no mask of their stem."""
        missing = [name for name in names if Path(name).stem not in self.by_stem]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise MaskFileError(f"mask.root={self.root} has no mask with the stem of {shown}")

    def __call__(self, height: int, width: int, rng: np.random.Generator, name: str | None = None) -> np.ndarray:
        if self.match == "stem":
            self._require([str(name)])
            path = self.by_stem[Path(str(name)).stem]
        else:
            path = self.files[int(rng.integers(len(self.files)))]
        mask = open_mask(path)
        mask_width, mask_height = mask.size
        if not self.warned and abs(mask_width / mask_height - width / height) > 0.02 * width / height:
            self.warned = True  # once per process: a folder of such masks would say it for every image
            log.warning(
                "mask %s is %dx%d, the image as the network sees it %dx%d: stretched to fit (masks drawn on "
                "the original photos must be cropped like them, e.g. as evaluate's write_inputs writes them)",
                path,
                mask_width,
                mask_height,
                width,
                height,
            )
        hole = hole_of(mask, (width, height))
        return (~hole if self.invert else hole).astype(np.float32)


def _readable(path: Path) -> bool:
    try:
        read_rgb(path)
    except ImageReadError:
        return False
    return True
