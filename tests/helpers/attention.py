"""Random feature maps and holes for the attention tests."""

import torch
from torch import nn


def random_case(batch, channels, height, width, hole_fraction, seed, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height, width, generator=generator, dtype=dtype)
    mask = (torch.rand(batch, 1, height, width, generator=generator) < hole_fraction).to(dtype)
    return x, mask


class MeanFill(nn.Module):
    """An attention variant defined only in the tests: hole cells take the mean of the known
    cells, blended in by a learnt weight."""

    def __init__(self, channels: int, start: float = 0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((1, channels, 1, 1), start))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = (1 - mask).sum((2, 3), keepdim=True).clamp(min=1)
        mean = (x * (1 - mask)).sum((2, 3), keepdim=True) / known
        return x + mask * self.weight * (mean - x)
