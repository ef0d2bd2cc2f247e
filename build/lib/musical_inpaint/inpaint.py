"""Inpaint your own images with a trained checkpoint.

    python -m musical_inpaint.inpaint --checkpoint CKPT --image FILE|DIR --mask FILE|DIR|center --output DIR

Masks: white (>= 127) = hole. A folder of masks is matched to the images by file stem; a single
mask file serves every image; `--mask center` is the paper's centre hole. A mask of another size
is resized (nearest) with a warning. Images of any size run at full resolution (padded to the
network's stride and cropped back), or with `--max-side N` are inpainted at a reduced size and
only the hole is pasted back. Known pixels come back exactly unchanged; outputs are PNG files
of the input's size and mode (grayscale stays grayscale, alpha is kept).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from musical_inpaint.data.images import ImageReadError, is_image_file, list_images, read_rgb
from musical_inpaint.data.masks import CenterMask
from musical_inpaint.inference import CheckpointError, inpaint_uint8, load_generator, pick_device

log = logging.getLogger("musical_inpaint.inpaint")


class InputError(ValueError):
    """An image or mask argument cannot be used; the message names it."""


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask file -> H x W bool hole (white >= 127), resized (nearest) to `size` = (W, H)."""
    try:
        with Image.open(path) as opened:
            mask = opened.convert("L")
    except OSError as error:
        raise InputError(f"cannot read mask {path}: {error}") from None
    if mask.size != size:
        log.warning("mask %s is %dx%d, the image %dx%d: resized (nearest)", path, *mask.size, *size)
        mask = mask.resize(size, Image.NEAREST)
    return np.asarray(mask) >= 127


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
    masks = {p.stem: p for p in mask_path.iterdir() if p.is_file() and is_image_file(p)}
    missing = [i.name for i in images if i.stem not in masks]
    if missing:
        raise InputError(f"--mask {mask_path}: no mask with the stem of {', '.join(missing[:5])}")
    return [(i, masks[i.stem]) for i in images]


def inpaint_file(generator, image_path: Path, mask_path: Path | None, output: Path, device, max_side: int | None) -> Path:
    rgb = np.array(read_rgb(image_path))  # raises ImageReadError naming the file
    with Image.open(image_path) as opened:
        upright = ImageOps.exif_transpose(opened)
        grayscale = opened.mode in ("L", "I;16", "I;16B", "I;16L", "I", "F", "1")
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        alpha = upright.convert("RGBA").getchannel("A") if has_alpha else None
    size = (rgb.shape[1], rgb.shape[0])
    hole = CenterMask()(rgb.shape[0], rgb.shape[1]) > 0.5 if mask_path is None else read_mask(mask_path, size)
    if max_side and max(size) > max_side:
        filled = _inpaint_downscaled(generator, rgb, hole, device, max_side)
    else:
        filled = inpaint_uint8(generator, rgb, hole, device)
    result = Image.fromarray(filled)
    if grayscale:
        result = result.convert("L")  # the three channels of a known pixel are equal: exact
    if alpha is not None:
        result.putalpha(alpha)
    target = output / f"{image_path.stem}.png"
    result.save(target)
    return target


def _inpaint_downscaled(generator, rgb: np.ndarray, hole: np.ndarray, device, max_side: int) -> np.ndarray:
    """Inpaint at a reduced size, upscale the prediction, paste it into the hole only."""
    scale = max_side / max(rgb.shape[:2])
    small_size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = np.array(Image.fromarray(rgb).resize(small_size, Image.BICUBIC))
    # A small pixel is a hole if any part of it is: the pasted prediction then covers every hole pixel.
    small_hole = np.array(Image.fromarray(hole.astype(np.uint8) * 255).resize(small_size, Image.BILINEAR)) > 0
    filled_small = inpaint_uint8(generator, small, small_hole, device)
    filled = np.array(Image.fromarray(filled_small).resize((rgb.shape[1], rgb.shape[0]), Image.BICUBIC))
    return np.where(hole[..., None], filled, rgb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (.ckpt) or run folder")
    parser.add_argument("--image", required=True, type=Path, help="an image file or a folder of images")
    parser.add_argument("--mask", required=True, help="a mask file, a folder of masks (matched by stem), or 'center'")
    parser.add_argument("--output", required=True, type=Path, help="folder for the inpainted PNG files")
    parser.add_argument("--device", default="auto", help="auto (GPU when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--max-side", type=int, default=None,
                        help="inpaint at most at this size and paste the upscaled hole back (default: full resolution)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        pairs = pair_inputs(args.image, args.mask)
        device = pick_device(args.device)
        generator, _ = load_generator(args.checkpoint, device)
        args.output.mkdir(parents=True, exist_ok=True)
        for image_path, mask_path in tqdm(pairs, desc="inpainting", unit="image", disable=len(pairs) == 1):
            target = inpaint_file(generator, image_path, mask_path, args.output, device, args.max_side)
        print(f"{len(pairs)} inpainted image(s) written to {args.output.resolve()}" if len(pairs) > 1 else f"written {target}")
    except (InputError, CheckpointError, ImageReadError) as error:
        print(f"inpaint: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
