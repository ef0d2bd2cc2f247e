"""Reading images of any mode into 8-bit RGB, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from musical_inpaint.errors import UserError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # single-channel modes of more than 8 bits


class ImageReadError(UserError, OSError):
    """An image file is missing, truncated or not an image."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


class DuplicateStemError(UserError, ValueError):
    """Two files of one folder that are matched by file stem share a stem."""


def by_stem(paths: list[Path], what: str, key=lambda path: path.stem) -> dict[str, Path]:
    """`paths` keyed by their stem (or by `key(path)`); two of one key are an error naming both
    and `what` (the option or argument that named the folder)."""
    keyed: dict[str, Path] = {}
    for path in paths:
        name = key(path)
        if name in keyed:
            raise DuplicateStemError(f"{what}: {keyed[name]} and {path} have the same stem; rename or remove one")
        keyed[name] = path
    return keyed


def list_images(folder: Path) -> list[Path]:
    """Every image below `folder`, recursively, in a stable (sorted) order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def read_image(path: str | Path) -> Image.Image:
    """Any image file, decoded now (so a truncated file fails here, naming itself), upright by its
    EXIF orientation, in its own mode."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)  # a copy that outlives the file
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from None


def as_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB: grayscale, palette, RGBA (alpha dropped, as the pixels are the
    content), CMYK and 16-bit or float images are converted; 16-bit values are scaled, not clipped."""
    if image.mode in HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 65535.0 * 255.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    return image.convert("RGB")


def read_rgb(path: str | Path) -> Image.Image:
    """Any image file -> 8-bit RGB PIL image, upright by its EXIF orientation (`read_image`, `as_rgb`)."""
    return as_rgb(read_image(path))
