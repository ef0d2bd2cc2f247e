"""The authors' contextual-attention algorithm, re-implemented as a speed and memory anchor.

Per sample, in a Python loop: every one of the N = H * W patches of the features becomes a
convolution kernel (normalised), the features are convolved with all N kernels (an N x H x W
score map), scores are box-summed over 3 x 3 query neighbours, softmaxed over the N kernels and
pasted back with a transposed convolution. This is the cost structure of the official MUSICAL
module (N^2 scores per sample, dense), not its exact semantics: use it for timing only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AuthorsAttention(nn.Module):
    def __init__(self, patch_size: int, propagate_size: int = 3, softmax_scale: float = 10.0) -> None:
        super().__init__()
        self.patch_size, self.propagate_size, self.softmax_scale = patch_size, propagate_size, softmax_scale

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        p, r = self.patch_size, self.patch_size // 2
        outputs = []
        for features, hole in zip(x, mask):  # the authors loop over the batch
            features, hole = features[None], hole[None]
            background = features * (1 - hole)
            patches = F.unfold(background, p, padding=r)  # 1 x C p^2 x N
            kernels = patches[0].t().reshape(-1, x.shape[1], p, p)  # N x C x p x p
            normalised = kernels / torch.sqrt(kernels.square().sum((1, 2, 3), keepdim=True) + 1e-4)
            scores = F.conv2d(features, normalised, padding=r)  # 1 x N x H x W
            if self.propagate_size > 1:
                k = self.propagate_size
                scores = F.avg_pool2d(scores, k, stride=1, padding=k // 2, count_include_pad=True) * k * k
            attention = torch.softmax(self.softmax_scale * scores, dim=1)
            pasted = F.conv_transpose2d(attention, kernels, padding=r) / (p * p)
            outputs.append(features * (1 - hole) + pasted * hole)
        return torch.cat(outputs)
