"""An embedded procedural dataset: images whose hole can only be filled well from the context.

Each image is a background with a regular structure — a periodic texture, stripes or a tiling —
so that the right content of any hole is determined by the rest of the image; a few shapes drawn
on top; and, in half of the images, a distractor: a block of a different background at a
border (the paper's "misleading background"), which a good attention must learn to ignore.
"""

from __future__ import annotations

import cv2
import numpy as np


def _colours(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(0, 255, size=(count, 3))


def _periodic_texture(size: int, rng: np.random.Generator) -> np.ndarray:
    period_y, period_x = rng.integers(size // 16, size // 5 + 1, size=2)
    coarse = rng.uniform(0, 255, size=(max(2, period_y // 4), max(2, period_x // 4), 3)).astype(np.float32)
    tile = cv2.resize(coarse, (int(period_x), int(period_y)), interpolation=cv2.INTER_CUBIC)
    reps = (size // period_y + 2, size // period_x + 2, 1)
    offset_y, offset_x = rng.integers(period_y), rng.integers(period_x)
    return np.tile(tile, reps)[offset_y : offset_y + size, offset_x : offset_x + size]


def _stripes(size: int, rng: np.random.Generator) -> np.ndarray:
    angle, period = rng.uniform(0, np.pi), rng.uniform(size / 16, size / 4)
    ys, xs = np.mgrid[0:size, 0:size]
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) / period + rng.uniform()
    profile = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    if rng.random() < 0.5:
        profile = (profile > 0.5).astype(np.float64)  # hard-edged stripes
    low, high = _colours(rng, 2)
    return low + profile[..., None] * (high - low)


def _tiling(size: int, rng: np.random.Generator) -> np.ndarray:
    cell = int(rng.integers(size // 16, size // 6 + 1))
    ys, xs = np.mgrid[0:size, 0:size] + rng.integers(cell, size=(2, 1, 1))
    rows = ys // cell
    if rng.random() < 0.5:  # bricks: every other row shifted by half a cell
        xs = xs + (rows % 2) * (cell // 2)
    colours = _colours(rng, 3)
    image = colours[((rows + xs // cell) % 2)]
    grout = (ys % cell < max(1, cell // 8)) | (xs % cell < max(1, cell // 8))
    image[grout] = colours[2]
    return image


_BACKGROUNDS = (_periodic_texture, _stripes, _tiling)


def _draw_shapes(image: np.ndarray, rng: np.random.Generator) -> None:
    size = image.shape[0]
    for _ in range(int(rng.integers(0, 4))):
        colour = tuple(float(c) for c in _colours(rng, 1)[0])
        centre = tuple(int(v) for v in rng.integers(0, size, size=2))
        radius = int(rng.integers(size // 16, size // 5 + 1))
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(image, centre, radius, colour, -1, lineType=cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(
                image,
                (centre[0] - radius, centre[1] - radius // 2),
                (centre[0] + radius, centre[1] + radius // 2),
                colour,
                -1,
            )
        else:
            points = rng.integers(-radius, radius + 1, size=(3, 2)) + np.array(centre)
            cv2.fillPoly(image, [points.astype(np.int32)], colour, lineType=cv2.LINE_AA)


def synthetic_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """One size x size x 3 uint8 image drawn from `rng`."""
    return synthetic_sample(size, rng)[0]


def synthetic_sample(size: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """One size x size x 3 uint8 image drawn from `rng`, and whether it holds a distractor block
    (to report the images with a misleading background apart)."""
    background = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    image = np.ascontiguousarray(background(size, rng), dtype=np.float32)
    distractor = bool(rng.random() < 0.5)
    if distractor:  # a distractor block along one border
        other = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))](size, rng)
        depth = int(rng.integers(size // 6, size // 4 + 1))
        side = rng.integers(4)
        region = [slice(None), slice(None)]
        region[side % 2] = slice(0, depth) if side < 2 else slice(size - depth, size)
        image[tuple(region)] = other[tuple(region)]
    _draw_shapes(image, rng)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), distractor
