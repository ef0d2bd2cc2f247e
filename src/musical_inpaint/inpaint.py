"""Inpaint your own images with a trained checkpoint.

    python -m musical_inpaint.inpaint --checkpoint CKPT --image FILE|DIR --mask FILE|DIR|center --output DIR

Masks: white (>= 127) = hole. A folder of masks is matched to the images by file stem; a single
mask file serves every image; `--mask center` is the paper's centre hole. A mask of another size
is resized (nearest) with a warning. Images of any size run at full resolution (padded to the
network's stride and cropped back); with `--max-side N` they are inpainted at a reduced size and
only the hole is pasted back; with `--crop-margin M` only a window around the hole is inpainted
(its bounding box grown by M pixels), at full resolution or, with --max-side too, at most that
size (`Resolution`). `--precision bf16|fp16` runs the network under autocast. Known pixels
come back exactly unchanged; outputs are PNG files of the input's size and mode (grayscale stays
grayscale, alpha is kept), named by the input's stem (`a.jpg` -> `a.png`; `a_jpg.png` and
`a_png.png` when `a.jpg` and `a.png` are both given), in the input's subfolder below --output.
Nothing is written until every output name is known to be free: an output that would replace one
of the inputs, or any existing file, stops the run before it writes anything (`--overwrite`
allows replacing existing files). Each file is written under a temporary name and renamed when
complete.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from musical_inpaint.data.images import (
    HIGH_BIT_MODES,
    DuplicateStemError,
    ImageReadError,
    as_rgb,
    is_image_file,
    list_images,
    read_image,
)
from musical_inpaint.data.masks import CenterMask, MaskFileError, masks_by_stem, read_mask
from musical_inpaint.inference import (
    PRECISIONS,
    CheckpointError,
    add_trust_argument,
    inpaint_uint8,
    load_generator,
    pick_device,
)
from musical_inpaint.ops.floats import flush_subnormals

log = logging.getLogger("musical_inpaint.inpaint")


class InputError(ValueError):
    """An image or mask argument cannot be used; the message names it."""


class OutputError(OSError):
    """The results cannot be written where --output says."""


def read_hole(mask: Path | None, height: int, width: int) -> np.ndarray:
    """The H x W bool hole of a mask file (`read_mask`), or the paper's centre hole for None."""
    if mask is None:
        return CenterMask()(height, width) > 0.5
    return read_mask(mask, (width, height))


def pair_inputs(image: Path, mask: str) -> list[tuple[Path, Path | None]]:
    """(image, mask file or None for the centre hole) pairs, masks matched by file stem."""
    if not image.exists():
        raise InputError(f"--image {image} does not exist")
    images = list_images(image) if image.is_dir() else [image]
    if not images:
        raise InputError(f"--image {image}: no image files found")
    if mask == "center":
        return [(i, None) for i in images]
    mask_path = Path(mask)
    if mask_path.is_file():
        return [(i, mask_path) for i in images]
    if not mask_path.is_dir():
        raise InputError(f"--mask {mask} is neither a file, a folder nor 'center'")
    masks = masks_by_stem(sorted(p for p in mask_path.iterdir() if p.is_file() and is_image_file(p)), f"--mask {mask}")
    missing = [i.name for i in images if i.stem not in masks]
    if missing:
        raise InputError(f"--mask {mask_path}: no mask with the stem of {', '.join(missing[:5])}")
    return [(i, masks[i.stem]) for i in images]


def plan_outputs(
    pairs: list[tuple[Path, Path | None]], image_arg: Path, output: Path, overwrite: bool = False
) -> list[Path]:
    """The output file of each pair, checked before anything is written: every name distinct,
    none of them an input, none an existing file unless `overwrite`."""
    folder_input = image_arg.is_dir()
    targets = []
    for image, _ in pairs:
        subfolder = image.parent.relative_to(image_arg) if folder_input else Path()
        targets.append(output / subfolder / f"{image.stem}.png")
    by_target = defaultdict(list)
    for index, target in enumerate(targets):
        by_target[target].append(index)
    for target, indices in by_target.items():
        if len(indices) > 1:  # a.jpg and a.png: name each output after its input's extension too
            for index in indices:
                image = pairs[index][0]
                targets[index] = target.with_name(f"{image.stem}_{image.suffix.lstrip('.').lower()}.png")
    seen: dict[Path, Path] = {}
    for (image, _), target in zip(pairs, targets):
        if target in seen:
            raise InputError(f"{seen[target]} and {image} would both be written to {target}; rename one of them")
        seen[target] = image
    inputs = {p.resolve() for pair in pairs for p in pair if p is not None}
    masks = {mask.resolve() for _, mask in pairs if mask is not None}
    for (image, _), target in zip(pairs, targets):
        if target.resolve() in masks:  # other images may still need it: never, even with --overwrite
            raise InputError(
                f"--output {output}: the result of {image} would replace the mask {target}; "
                "choose another --output folder"
            )
        if target.resolve() in inputs and not overwrite:
            raise InputError(
                f"--output {output}: the result of {image} would replace the input {target}; "
                "choose another --output folder (or pass --overwrite)"
            )
    existing = [t for t in targets if t.exists() and t.resolve() not in inputs]
    if existing and not overwrite:
        names = ", ".join(str(t) for t in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise InputError(f"--output {output}: {names} already exist(s); choose another folder or pass --overwrite")
    return targets


Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (H x W x 3 uint8, H x W bool hole) -> uint8


def generator_fill(generator, device, precision: str = "fp32") -> Fill:
    return lambda rgb, hole: inpaint_uint8(generator, rgb, hole, device, precision)


@dataclass(frozen=True)
class Resolution:
    """Where a large image is filled. By default at full resolution. `max_side`: at most this
    many pixels a side, the upscaled hole pasted back, closer to the scale a network trained at
    64-256 pixels has seen. `crop_margin`: only a window around the hole (its bounding box grown
    by this many pixels each way, IOPaint's crop strategy), at full resolution or, with
    `max_side` too, at most that size; known pixels outside the window are never touched."""

    max_side: int | None = None
    crop_margin: int | None = None

    def __post_init__(self) -> None:
        if self.max_side is not None and self.max_side < 1:
            raise InputError(f"--max-side {self.max_side}: must be a number of pixels >= 1")
        if self.crop_margin is not None and self.crop_margin < 0:
            raise InputError(f"--crop-margin {self.crop_margin}: must be a number of pixels >= 0")

    def fill(self, fill: Fill, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        if self.crop_margin is None or not hole.any():
            return self._fill_scaled(fill, rgb, hole)
        rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
        margin = self.crop_margin
        window = np.s_[
            max(0, rows[0] - margin) : rows[-1] + 1 + margin, max(0, cols[0] - margin) : cols[-1] + 1 + margin
        ]
        result = rgb.copy()
        filled = self._fill_scaled(fill, np.ascontiguousarray(rgb[window]), np.ascontiguousarray(hole[window]))
        result[window] = np.where(hole[window][..., None], filled, rgb[window])
        return result

    def _fill_scaled(self, fill: Fill, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        if self.max_side and max(rgb.shape[:2]) > self.max_side:
            return _inpaint_downscaled(fill, rgb, hole, self.max_side)
        return fill(rgb, hole)


def add_resolution_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-side and --crop-margin (`Resolution`), for inpaint and the web page."""
    parser.add_argument(
        "--max-side",
        type=int,
        default=None,
        help="inpaint at most at this size and paste the upscaled hole back (default: full resolution)",
    )
    parser.add_argument(
        "--crop-margin",
        type=int,
        default=None,
        metavar="PIXELS",
        help="inpaint only the hole's bounding box grown by PIXELS each way, for a small hole in a "
        "large photo; with --max-side, that window at most at that size",
    )


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=list(PRECISIONS),
        help="the network's arithmetic: fp32 (default), or bf16 / fp16 under autocast, for speed on a GPU",
    )


GRAYSCALE_MODES = ("L", "LA", "1", *HIGH_BIT_MODES)  # written back as L (LA with the alpha put back)


@dataclass(frozen=True)
class Picture:
    """An input image decoded once: its pixels, and what its output keeps of its form."""

    rgb: np.ndarray  # H x W x 3 uint8, upright by its EXIF orientation
    grayscale: bool  # the output is written back as grayscale
    alpha: Image.Image | None  # the input's alpha channel, upright, put back on the output


def read_picture(path: Path) -> Picture:
    """The image file at `path` as a `Picture` (ImageReadError names the file)."""
    image = read_image(path)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    alpha = image.convert("RGBA").getchannel("A") if has_alpha else None
    return Picture(np.array(as_rgb(image)), image.mode in GRAYSCALE_MODES, alpha)


def inpaint_image(
    fill: Fill, image: Path | Picture, hole: np.ndarray | Path | None, resolution: Resolution = Resolution()
) -> Image.Image:
    """The inpainted image of the file at `image` (or of a `Picture` already read from it), as
    `inpaint` writes it: the input's size, mode (grayscale stays grayscale, alpha kept) and
    orientation, known pixels unchanged.
    hole: an H x W bool array, a mask file (resized if its size differs), or None for the centre
    hole. `resolution` says where a large image is filled (full size, `max_side`, a window)."""
    picture = image if isinstance(image, Picture) else read_picture(image)
    rgb = picture.rgb
    if not isinstance(hole, np.ndarray):
        hole = read_hole(hole, rgb.shape[0], rgb.shape[1])
    result = Image.fromarray(resolution.fill(fill, rgb, hole))
    if picture.grayscale:
        result = result.convert("L")  # the three channels of a known pixel are equal: exact
    if picture.alpha is not None:
        result.putalpha(picture.alpha)
    return result


def write_png(result: Image.Image, target: Path) -> Path:
    """`result` at `target` as PNG, under a temporary name renamed when complete."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        result.save(partial, format="PNG")
        os.replace(partial, target)  # the result appears whole or not at all
    except OSError as error:  # a read-only or full output folder
        raise OutputError(f"cannot write {target} below --output: {error}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def inpaint_file(fill: Fill, image_path: Path, mask_path: Path | None, target: Path, resolution: Resolution) -> Path:
    return write_png(inpaint_image(fill, image_path, mask_path, resolution), target)


def _inpaint_downscaled(fill: Fill, rgb: np.ndarray, hole: np.ndarray, max_side: int) -> np.ndarray:
    """Inpaint at a reduced size, upscale the prediction, paste it into the hole only."""
    scale = max_side / max(rgb.shape[:2])
    small_size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = np.array(Image.fromarray(rgb).resize(small_size, Image.BICUBIC))
    # A small pixel is a hole if any part of it is: the pasted prediction then covers every hole pixel.
    small_hole = np.array(Image.fromarray(hole.astype(np.uint8) * 255).resize(small_size, Image.BILINEAR)) > 0
    filled_small = fill(small, small_hole)
    filled = np.array(Image.fromarray(filled_small).resize((rgb.shape[1], rgb.shape[0]), Image.BICUBIC))
    return np.where(hole[..., None], filled, rgb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (.ckpt) or run folder")
    parser.add_argument("--image", required=True, type=Path, help="an image file or a folder of images")
    parser.add_argument("--mask", required=True, help="a mask file, a folder of masks (matched by stem), or 'center'")
    parser.add_argument("--output", required=True, type=Path, help="folder for the inpainted PNG files")
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps, ...")
    add_precision_argument(parser)
    add_trust_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="allow replacing existing files, inputs included")
    add_resolution_arguments(parser)
    args = parser.parse_args(argv)
    flush_subnormals()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        resolution = Resolution(args.max_side, args.crop_margin)
        pairs = pair_inputs(args.image, args.mask)
        targets = plan_outputs(pairs, args.image, args.output, args.overwrite)
        device = pick_device(args.device)
        generator, _ = load_generator(args.checkpoint, device, args.trust_module)
        fill = generator_fill(generator, device, args.precision)
        try:
            args.output.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # e.g. a file of that name, or a read-only parent
            raise OutputError(f"cannot write to --output {args.output}: {error}") from None
        progress = tqdm(list(zip(pairs, targets)), desc="inpainting", unit="image", disable=len(pairs) == 1)
        for (image_path, mask_path), target in progress:
            inpaint_file(fill, image_path, mask_path, target, resolution)
        print(
            f"{len(pairs)} inpainted image(s) written to {args.output.resolve()}"
            if len(pairs) > 1
            else f"written {target}"
        )
    except (InputError, OutputError, CheckpointError, ImageReadError, MaskFileError, DuplicateStemError) as error:
        print(f"inpaint: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
