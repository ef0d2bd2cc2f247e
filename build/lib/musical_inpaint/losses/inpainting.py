"""The generator's objective, paper eq. 7, with one weight per term."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from musical_inpaint.losses import terms
from musical_inpaint.losses.vgg import VGG16Features, gram_matrix
from musical_inpaint.models.generator import composite
from musical_inpaint.models.pretrained import WeightsSource


class InpaintingLoss(nn.Module):
    """L = style * L_style + perceptual * L_perc + adversarial * L_adv + tv * L_tv + l1 * L_l1
    (+ hole_l1 * L_hole, the authors' extra term, 0 by default). Defaults are the paper's.

    The perceptual and style terms compare the VGG16 features of both the raw prediction and the
    composite with the ground truth's, which are computed once per call. A term of weight 0 is
    never computed, and without style and perceptual terms VGG16 is not even built.

    `forward(prediction, target, mask, fake_logits=None)` returns a dict with every computed
    term (unweighted) and their weighted sum under "total". `fake_logits` are the
    discriminator's logits for the generated images; required when adversarial > 0.
    """

    def __init__(
        self,
        style: float = 250.0,
        perceptual: float = 0.07,
        adversarial: float = 0.3,
        tv: float = 0.001,
        l1: float = 100.0,
        hole_l1: float = 0.0,
        vgg_weights: WeightsSource = "imagenet",
    ) -> None:
        super().__init__()
        self.weights = dict(style=style, perceptual=perceptual, adversarial=adversarial, tv=tv, l1=l1, hole_l1=hole_l1)
        for name, weight in self.weights.items():
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"InpaintingLoss: weight {name} must be a finite number >= 0, got {weight!r}")
        self.vgg = VGG16Features(vgg_weights) if style or perceptual else None

    @property
    def uses_discriminator(self) -> bool:
        return self.weights["adversarial"] > 0

    def forward(
        self, prediction: Tensor, target: Tensor, mask: Tensor, fake_logits: Tensor | None = None
    ) -> dict[str, Tensor]:
        w = self.weights
        losses: dict[str, Tensor] = {}
        if self.vgg is not None:
            with torch.no_grad():
                target_maps = self.vgg(target)
            # One VGG pass over prediction and composite together.
            joint_maps = self.vgg(torch.cat([prediction, composite(prediction, target, mask)]))
            prediction_maps, composite_maps = zip(*(m.chunk(2) for m in joint_maps))
            if w["perceptual"]:
                losses["perceptual"] = terms.perceptual_loss(prediction_maps, target_maps) + terms.perceptual_loss(
                    composite_maps, target_maps
                )
            if w["style"]:
                target_grams = [gram_matrix(m) for m in target_maps]
                losses["style"] = terms.style_loss(prediction_maps, target_grams) + terms.style_loss(
                    composite_maps, target_grams
                )
        if w["adversarial"]:
            if fake_logits is None:
                raise ValueError("InpaintingLoss: adversarial weight > 0 needs the discriminator's fake_logits")
            losses["adversarial"] = terms.generator_adversarial_loss(fake_logits)
        if w["tv"]:
            losses["tv"] = terms.total_variation_loss(prediction)
        if w["l1"]:
            losses["l1"] = terms.l1_loss(prediction, target)
        if w["hole_l1"]:
            losses["hole_l1"] = terms.hole_l1_loss(prediction, target, mask)
        losses["total"] = sum((w[name] * value for name, value in losses.items()), prediction.new_zeros(()))
        return losses
