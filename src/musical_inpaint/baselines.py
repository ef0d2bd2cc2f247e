"""Classical inpainting baselines, run through the same data, masks and metrics as the networks.

Each takes an H x W x 3 uint8 RGB image and an H x W bool hole and returns the filled image.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
from torch import Tensor

from musical_inpaint.imaging import from_uint8, harmonic_fill, to_uint8

TELEA_RADIUS = 3  # OpenCV's usual neighbourhood radius
PATCHMATCH_RADIUS = 3  # pypatchmatch patch radius: 7 x 7 patches


def telea(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fast marching (Telea 2004), OpenCV's cv2.INPAINT_TELEA."""
    return cv2.inpaint(image, hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Navier-Stokes based (Bertalmio et al. 2001), OpenCV's cv2.INPAINT_NS."""
    return cv2.inpaint(image, hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_NS)


def patchmatch(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Patch-based filling with PatchMatch (Barnes et al. 2009), the pypatchmatch package."""
    from patchmatch import patch_match  # loads a native library: only when asked for

    return patch_match.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8), patch_size=PATCHMATCH_RADIUS)


def harmonic(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The smoothest surface through the known pixels (Laplace's equation; `imaging.harmonic_fill`)."""
    pixels = from_uint8(image)[None]
    return to_uint8(harmonic_fill(pixels, torch.from_numpy(hole[None, None]).float()))[0]


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "telea": telea,
    "navier_stokes": navier_stokes,
    "patchmatch": patchmatch,
    "harmonic": harmonic,
}


def fill_with(method: str, image: Tensor, mask: Tensor) -> Tensor:
    """A baseline on a batch: images B x 3 x H x W in [-1, 1] and masks B x 1 x H x W (1 = hole)
    -> the filled images in [-1, 1], on the images' device. The baseline sees the images as the
    uint8 files it would read."""
    if method not in BASELINES:
        raise ValueError(f"method must be one of {sorted(BASELINES)}, got {method!r}")
    baseline = BASELINES[method]
    arrays = to_uint8(image.detach())
    holes = mask.detach().cpu()[:, 0].numpy() > 0.5
    filled = np.stack([baseline(np.ascontiguousarray(a), h) for a, h in zip(arrays, holes)])
    return from_uint8(filled).to(image.device)
