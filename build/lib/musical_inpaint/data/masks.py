"""Hole masks: the paper's centre square, random boxes, and free-form brush strokes.

A mask generator is called as `generator(height, width, rng)` with a numpy random Generator and
returns an H x W float32 array with 1 = hole. The dataset decides where `rng` comes from:
seeded draws for training, a generator fixed by (seed, image index) for evaluation, so that an
image gets the same evaluation mask in every run and on every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


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
