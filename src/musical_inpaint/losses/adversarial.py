"""The GAN objective: one object holds its weight, the generator's term and the discriminator's
loss (with an optional R1 penalty). The discriminator exists iff the weight is positive.

Logits come from the discriminator's patch map (real > 0); images are B x 3 x H x W.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AdversarialLoss:
    """Base of the adversarial objectives.

    Args:
        weight: the generator term's weight in the total loss (paper: 0.3); 0 builds no discriminator.
        r1_weight: gamma of the R1 penalty, gamma / 2 * E |grad_x D(x)|^2 on real images (0: off).
    """

    def __init__(self, weight: float = 0.3, r1_weight: float = 0.0) -> None:
        for name, value in (("weight", weight), ("r1_weight", r1_weight)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{type(self).__name__}: {name} must be a finite number >= 0, got {value!r}")
        self.weight, self.r1_weight = float(weight), float(r1_weight)

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def logits_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def discriminator_loss(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, one_pass: bool = False
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's objective on a batch of real and (detached) generated images:
        (total, its terms for the logs: "d_loss" is the total, "r1" the penalty when on).
        one_pass: both batches in one forward (`DenseNetDiscriminator.pair`), the same values."""
        real = real.detach().requires_grad_(True) if self.r1_weight else real
        if one_pass:
            real_logits, fake_logits = discriminator.pair(real, fake.detach())
        else:
            real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
        total = self.logits_loss(real_logits, fake_logits)
        terms = {}
        if self.r1_weight:
            (gradient,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            terms["r1"] = gradient.square().sum((1, 2, 3)).mean()
            total = total + 0.5 * self.r1_weight * terms["r1"]
        terms["d_loss"] = total
        return total, terms


class NonSaturatingLoss(AdversarialLoss):
    """The paper's (and the authors' code's) GAN loss: binary cross-entropy on logits. The
    generator wants its images classified as real; the discriminator 0.5 * (BCE(real, 1) + BCE(fake, 0))."""

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def logits_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return 0.5 * (real + fake)


class HingeLoss(AdversarialLoss):
    """The hinge GAN loss (SN-GAN, BigGAN): the discriminator E relu(1 - D(real)) + E relu(1 + D(fake)),
    the generator -E D(fake)."""

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()

    def logits_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
