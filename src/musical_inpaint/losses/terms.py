"""The reconstruction terms of the paper (eq. 4-7), each a function of tensors (the adversarial
term is musical_inpaint.losses.adversarial's).

Images are B x 3 x H x W in [-1, 1]; masks B x 1 x H x W with 1 = hole.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from musical_inpaint.losses.vgg import gram_matrix


def perceptual_loss(predicted: list[Tensor], target: list[Tensor]) -> Tensor:
    """Paper eq. 4: sum over the feature maps of |phi_gt - phi_pred|_1 / (H W C), batch-averaged."""
    return sum(F.l1_loss(p, t) for p, t in zip(predicted, target))


def style_loss(predicted: list[Tensor], target_grams: list[Tensor]) -> Tensor:
    """Paper eq. 5-6: sum over the maps of |G_gt - G_pred|_1 / (C C), G = F F^T / (H W C)."""
    return sum(F.l1_loss(gram_matrix(p), g) for p, g in zip(predicted, target_grams))


def total_variation_loss(image: Tensor) -> Tensor:
    """Anisotropic total variation: mean |vertical difference| + mean |horizontal difference|."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., 1:] - image[..., :-1]).abs().mean()


def l1_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over the whole image."""
    return F.l1_loss(predicted, target)


def hole_l1_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean(|predicted - target| * mask) over all pixels: the authors' extra term (not in the paper)."""
    return ((predicted - target).abs() * mask).mean()
