"""MUSICAL's attention module (paper eq. 3): contextual attention at several patch sizes,
squeeze-and-excitation over [features, attended...], and a 1x1 fusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from musical_inpaint.models.contextual_attention import ContextualAttention


class SqueezeExcitation(nn.Module):
    """Channel reweighting of Hu et al. 2018: GAP -> FC -> ReLU -> FC -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class MultiScaleAttention(nn.Module):
    """MUSICAL's attention module, paper eq. 3: Conv1x1(SE(concat[x, CA_p(x, m) for p])).

    `patch_sizes=(1, 3)` is the paper's module; `(3,)` is its single-scale ablation. The other
    arguments go to each ContextualAttention branch (impl="reference": the float64 yardstick).
    """

    def __init__(
        self,
        channels: int,
        patch_sizes: Sequence[int] = (1, 3),
        propagate_size: int = 3,
        softmax_scale: float = 10.0,
        se_reduction: int = 16,
        max_scores: int | None = None,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        if not patch_sizes:
            raise ValueError("MultiScaleAttention needs at least one patch size")
        self.branches = nn.ModuleList(
            ContextualAttention(p, propagate_size, softmax_scale, max_scores, impl=impl) for p in patch_sizes
        )
        concat_channels = channels * (1 + len(self.branches))
        self.se = SqueezeExcitation(concat_channels, se_reduction)
        self.fuse = nn.Conv2d(concat_channels, channels, kernel_size=1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        attended = [branch(x, mask) for branch in self.branches]
        return self.fuse(self.se(torch.cat([x, *attended], 1)))
