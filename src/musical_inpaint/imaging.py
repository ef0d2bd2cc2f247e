"""Images as the networks see them: B x 3 x H x W tensors in [-1, 1] (masks B x 1 x H x W, 1 = hole),
and the conversions to and from 8-bit pixels. Every conversion and the composite live here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
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



def harmonic_fill(image: Tensor, mask: Tensor, iterations: int | None = None) -> Tensor:
    """The hole (mask = 1) filled with the smoothest surface through the known pixels: each hole
    pixel the mean of its neighbours inside the image (Laplace's equation with the known pixels as
    its boundary). Known pixels are returned unchanged; a sample without a known pixel is filled
    with 0 (mid grey).

    Solved per sample and channel by conjugate gradients on the hole's pixels, started from a
    coarse guess (the mean of the known pixels in ever larger cells), for `iterations` steps (by
    default the image's longer side, which converges for any hole in it), so that the cost depends
    on the image's shape only. Computed in float32 whatever the autocast.
    """
    if iterations is None:
        iterations = max(image.shape[-2:])
    with torch.autocast(image.device.type, enabled=False):
        hole = mask.float().expand_as(image)
        known = 1 - hole
        image = image.float() * known
        degree = _neighbour_sum(torch.ones_like(image[:1, :1]))  # 2 to 4: pixels on the border have fewer
        rhs = _neighbour_sum(image) * hole
        fill = _coarse_guess(image, known) * hole
        residual = rhs - _laplacian(fill, degree, hole)
        step = residual / degree
        rho = (residual * step).sum((-2, -1), keepdim=True)
        for _ in range(iterations):
            product = _laplacian(step, degree, hole)
            alpha = rho / (step * product).sum((-2, -1), keepdim=True).clamp_min(1e-30)
            fill = fill + alpha * step
            residual = residual - alpha * product
            preconditioned = residual / degree
            rho, previous = (residual * preconditioned).sum((-2, -1), keepdim=True), rho
            step = preconditioned + rho / previous.clamp_min(1e-30) * step
        return image + fill * hole


def _neighbour_sum(x: Tensor) -> Tensor:
    """The sum of each pixel's four neighbours inside the image."""
    padded = F.pad(x, (1, 1, 1, 1))
    return padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]


def _laplacian(x: Tensor, degree: Tensor, hole: Tensor) -> Tensor:
    """The graph Laplacian over the hole's pixels (x is 0 outside the hole): symmetric, positive."""
    return (degree * x - _neighbour_sum(x)) * hole


def _coarse_guess(image: Tensor, known: Tensor) -> Tensor:
    """Each pixel the mean of the known pixels in the smallest cell of 2^k x 2^k pixels that holds any."""
    values, weights = [image], [known]
    while min(weights[-1].shape[-2:]) > 1:
        values.append(F.avg_pool2d(values[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    guess = torch.zeros_like(values[-1])
    for value, weight in zip(reversed(values), reversed(weights)):
        guess = F.interpolate(guess, size=value.shape[-2:], mode="bilinear", align_corners=False)
        guess = torch.where(weight > 0, value / weight.clamp_min(1e-12), guess)
    return guess
