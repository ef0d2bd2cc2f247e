"""The GAN objective and the adversarial step: one object holds the weight, runs the
discriminator for both networks' updates, and holds the losses on its logits (with an optional
R1 penalty). The discriminator exists iff the weight is positive.

Logits come from the discriminator's patch map (real > 0); images are B x 3 x H x W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musical_inpaint.losses.weights import check_weight


class AdversarialLoss:
    """Base of the adversarial objectives.

    Args:
        weight: the generator term's weight in the total loss (paper: 0.3); 0 builds no discriminator.
        r1_weight: gamma of the R1 penalty, gamma / 2 * E |grad_x D(x)|^2 on real images (0: off).

    `discriminator_loss` (the discriminator's update) and `generator_term` (the generator's) run
    the discriminator through `discriminate`, the one place it runs; subclasses define the losses
    on its logits, `logits_loss` and `generator_loss`.
    """

    def __init__(self, weight: float = 0.3, r1_weight: float = 0.0) -> None:
        self.weight = check_weight(weight, "model.adversarial.weight")
        self.r1_weight = check_weight(r1_weight, "model.adversarial.r1_weight", "the penalty")

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def logits_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def discriminate(discriminator: nn.Module, *images: Tensor, one_pass: bool = False) -> list[Tensor]:
        """The discriminator's logits of each batch of `images`. one_pass: two batches in one
        forward (`DenseNetDiscriminator.pair`), the same values."""
        if one_pass and len(images) == 2:
            return list(discriminator.pair(*images))
        return [discriminator(image) for image in images]

    def discriminator_loss(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, one_pass: bool = False
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's objective on a batch of real and (detached) generated images:
        (total, its terms for the logs: "d_loss" is the total, "r1" the penalty when on)."""
        real = real.detach().requires_grad_(True) if self.r1_weight else real
        real_logits, fake_logits = self.discriminate(discriminator, real, fake.detach(), one_pass=one_pass)
        total = self.logits_loss(real_logits, fake_logits)
        terms = {}
        if self.r1_weight:
            (gradient,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            terms["r1"] = gradient.square().sum((1, 2, 3)).mean()
            total = total + 0.5 * self.r1_weight * terms["r1"]
        terms["d_loss"] = total
        return total, terms

    def generator_term(self, discriminator: nn.Module, fake: Tensor) -> Tensor:
        """The generator's adversarial term (unweighted) on its images `fake`, through which the
        gradient flows back to the generator."""
        (fake_logits,) = self.discriminate(discriminator, fake)
        return self.generator_loss(fake_logits)


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
