"""Images as the networks see them: B x 3 x H x W tensors in [-1, 1] (masks B x 1 x H x W, 1 = hole),
and the conversions to and from 8-bit pixels. Every conversion and the composite live here."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def composite(prediction: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Known pixels from `image`, hole pixels (mask = 1) from `prediction`."""
    return prediction * mask + image * (1 - mask)


def from_uint8(pixels: np.ndarray) -> Tensor:
    """H x W x 3 (or N x H x W x 3) uint8 pixels -> 3 x H x W (N x 3 x H x W) float32 in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels))
    return tensor.movedim(-1, -3).float() / 127.5 - 1


def quantise(image: Tensor) -> Tensor:
    """[-1, 1] -> the 8-bit values 0..255 a saved image would hold, in float64 (for the metrics)."""
    return torch.round((image.double().clamp(-1, 1) + 1) * 127.5)


def to_uint8(image: Tensor) -> np.ndarray:
    """3 x H x W (or N x 3 x H x W) in [-1, 1] -> H x W x 3 (N x H x W x 3) uint8, rounded."""
    return quantise(image).byte().movedim(-3, -1).cpu().numpy()


def to_unit(image: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], clamped: what torchvision's save_image expects."""
    return (image.clamp(-1, 1) + 1) / 2


def panel(image: Tensor, mask: Tensor, prediction: Tensor, raw_output: bool = True) -> tuple[Tensor, int]:
    """One row per image: masked input (hole white) | raw output (if raw_output) | composite |
    ground truth, in [0, 1], flattened for `save_image(rows, nrow=columns)`; returns (rows, columns)."""
    columns = [image * (1 - mask) + mask, *([prediction] if raw_output else []), composite(prediction, image, mask), image]
    return to_unit(torch.stack(columns, 1).flatten(0, 1)), len(columns)
