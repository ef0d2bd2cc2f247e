"""Images as the networks see them: B x 3 x H x W tensors in [-1, 1] (masks B x 1 x H x W, 1 = hole),
and the conversions to and from 8-bit pixels. Every conversion and the composite live here."""

from __future__ import annotations

import functools
import math

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
    columns = [
        image * (1 - mask) + mask,
        *([prediction] if raw_output else []),
        composite(prediction, image, mask),
        image,
    ]
    return to_unit(torch.stack(columns, 1).flatten(0, 1)), len(columns)


def offset_colours(dy: Tensor, dx: Tensor, max_offset: float | None = None) -> Tensor:
    """B x H x W offsets -> B x 3 x H x W colours in [-1, 1], coded as optical flow usually is
    (the Middlebury colour wheel of Baker et al. 2007, as DeepFill draws its attention): the hue
    says the direction, the saturation the length relative to `max_offset` (None: the largest),
    white a zero offset."""
    wheel = _colour_wheel().to(dy.device)  # K x 3
    length = torch.sqrt(dy.double().square() + dx.double().square())
    largest = float(length.max()) if max_offset is None else max_offset
    radius = length / max(largest, 1e-9)
    position = (torch.atan2(-dy.double(), -dx.double()) / math.pi + 1) / 2 * (len(wheel) - 1)
    low = position.floor().long()
    high = (low + 1) % len(wheel)
    blend = (position - low)[..., None]
    colour = (1 - blend) * wheel[low] + blend * wheel[high]  # B x H x W x 3
    radius = radius[..., None]
    colour = torch.where(radius <= 1, 1 - radius * (1 - colour), colour * 0.75)
    return (colour.movedim(-1, 1) * 2 - 1).float()


@functools.cache
def _colour_wheel() -> Tensor:
    """The Middlebury wheel's 55 hues: red, yellow, green, cyan, blue, magenta and back to red,
    in 15, 6, 4, 11, 13 and 6 steps."""
    stops = [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1), (1, 0, 0)]
    steps = (15, 6, 4, 11, 13, 6)
    colours = [
        [a + (b - a) * i / n for a, b in zip(start, end, strict=True)]
        for n, start, end in zip(steps, stops[:-1], stops[1:], strict=True)
        for i in range(n)
    ]
    return torch.tensor(colours, dtype=torch.float64)


def harmonic_fill(image: Tensor, mask: Tensor) -> Tensor:
    """The hole (mask > 0.5) filled with the smoothest surface through the known pixels: each hole
    pixel the mean of its neighbours inside the image (Laplace's equation with the known pixels as
    its boundary). Known pixels are returned unchanged (through float32), what the hole held is
    never read, and a sample without a known pixel is filled with 0 (mid grey). Computed in
    float32 whatever the autocast.

    The fill is linear in the known pixels next to the hole, so a batch of several images that
    share one hole (the paper's centre hole in training) takes one matrix product with that hole's
    solution operator, solved once and kept. Single images, batches of different holes, and traced
    graphs (whose operator could not follow the mask) solve by conjugate gradients.
    """
    with torch.autocast(image.device.type, enabled=False):
        hole = (mask > 0.5).expand(image.shape[0], 1, *image.shape[-2:])
        known = torch.where(hole, 0.0, image.float())
        shared = hole[:1]
        if (
            not torch.jit.is_tracing()
            and image.shape[0] > 1
            and bool((hole == shared).all())
            and 0 < int(shared.sum()) <= _MAX_OPERATOR_HOLE
            and not bool(shared.all())
        ):
            return _fill_with_operator(known, shared[0, 0]).to(image.dtype)
        return _fill_by_conjugate_gradients(known, hole.float()).to(image.dtype)


# The operator's dense solve holds hole x hole float64 numbers (134 MB at this size, once per hole);
# the operator kept is hole x boundary float32 numbers (4 MB for a 64 x 64 square).
_MAX_OPERATOR_HOLE = 64 * 64


def _fill_with_operator(image: Tensor, hole: Tensor) -> Tensor:
    holes, boundary, operator = _solution_operator(*hole.shape, hole.cpu().numpy().tobytes(), str(image.device))
    flat = image.flatten(-2)
    return flat.index_copy(-1, holes, flat[..., boundary] @ operator.T).view_as(image)


@functools.lru_cache(maxsize=8)
def _solution_operator(height: int, width: int, hole: bytes, device: str) -> tuple[Tensor, Tensor, Tensor]:
    """(hole pixels, known pixels next to the hole, the hole's values from theirs): flat indices
    and the float32 matrix on `device`, for a height x width bool hole (with at least one hole and
    one known pixel) given as its bytes, the cache's key."""
    with torch.inference_mode(False), torch.no_grad():  # kept tensors must serve later autograd calls too
        holes = torch.from_numpy(np.frombuffer(hole, dtype=bool).copy()).nonzero()[:, 0]
        index = torch.full((height * width,), -1, dtype=torch.long)
        index[holes] = torch.arange(len(holes))
        system = torch.zeros(len(holes), len(holes), dtype=torch.float64)
        y, x, rows = holes // width, holes % width, torch.arange(len(holes))
        edges = []  # (hole row, known neighbour) pairs
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            inside = (y + dy >= 0) & (y + dy < height) & (x + dx >= 0) & (x + dx < width)
            row, neighbour = rows[inside], ((y + dy) * width + x + dx)[inside]
            system[row, row] += 1
            is_hole = index[neighbour] >= 0
            system[row[is_hole], index[neighbour[is_hole]]] -= 1
            edges.append((row[~is_hole], neighbour[~is_hole]))
        row, neighbour = (torch.cat(parts) for parts in zip(*edges))
        boundary, column = torch.unique(neighbour, return_inverse=True)
        coupling = torch.zeros(len(holes), len(boundary), dtype=torch.float64)
        coupling.index_put_((row, column), torch.ones(len(row), dtype=torch.float64), accumulate=True)
        operator = torch.linalg.solve(system, coupling).float()
        return holes.to(device), boundary.to(device), operator.to(device)


def _fill_by_conjugate_gradients(image: Tensor, hole: Tensor) -> Tensor:
    """Per sample and channel, Jacobi-preconditioned, from the mean of the known pixels in ever
    larger cells; until the residual (in the preconditioner's norm, checked every 16 steps) is 1e-6
    of the larger of the right-hand side and the first residual, or, traced, for four times the
    longer side's steps (a graph that size: export's cost grows with the image)."""
    degree = _neighbour_sum(torch.ones_like(image[:1, :1])).clamp_min(1)  # in-image neighbours: 1 to 4
    rhs = _neighbour_sum(image) * hole
    fill = _coarse_guess(image, 1 - hole) * hole
    residual = rhs - _laplacian(fill, degree, hole)
    step = residual / degree
    rho = (residual * step).sum((-2, -1), keepdim=True)
    tolerance = 1e-12 * torch.maximum((rhs * rhs / degree).sum((-2, -1), keepdim=True), rho).clamp_min(1e-30)
    tracing = torch.jit.is_tracing()
    limit = 4 * max(image.shape[-2:]) if tracing else int(hole.sum((-2, -1)).max()) + 1
    for iteration in range(limit):
        if not tracing and iteration % 16 == 0 and bool((rho <= tolerance).all()):
            break
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
    """The graph Laplacian over the hole's pixels (x is 0 outside the hole): symmetric, and positive
    definite where the sample has a known pixel."""
    return (degree * x - _neighbour_sum(x)) * hole


def _coarse_guess(image: Tensor, known: Tensor) -> Tensor:
    """A start for the solver: each pixel the mean of the known pixels in the smallest cell of
    2^k x 2^k pixels that holds any, bilinearly upsampled from coarser cells where none does."""
    values, weights = [image], [known]
    while min(weights[-1].shape[-2:]) > 1:
        values.append(F.avg_pool2d(values[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    guess = torch.zeros_like(values[-1])
    for value, weight in zip(reversed(values), reversed(weights)):
        guess = F.interpolate(guess, size=value.shape[-2:], mode="bilinear", align_corners=False)
        guess = torch.where(weight > 0, value / weight.clamp_min(1e-12), guess)
    return guess
