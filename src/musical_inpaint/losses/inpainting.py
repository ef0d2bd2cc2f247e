"""The generator's reconstruction objective, paper eq. 7 without its adversarial term (which is
musical_inpaint.losses.adversarial's), with one weight per term."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from musical_inpaint.losses import terms
from musical_inpaint.losses.vgg import VGG16Features, gram_matrix
from musical_inpaint.imaging import composite
from musical_inpaint.backbones import WeightsSource


class InpaintingLoss(nn.Module):
    """L = style * L_style + perceptual * L_perc + tv * L_tv + l1 * L_l1 (+ hole_l1 * L_hole, the
    authors' extra term, 0 by default). Defaults are the paper's; the training module adds the
    adversarial term of its AdversarialLoss.

    The perceptual and style terms compare the VGG16 features of both the raw prediction and the
    composite with the ground truth's, which are computed once per call. A term of weight 0 is
    never computed, and without style and perceptual terms VGG16 is not even built.

    `forward(prediction, target, mask)` returns a dict with every computed term (unweighted) and
    their weighted sum under "total".
    """

    def __init__(
        self,
        style: float = 250.0,
        perceptual: float = 0.07,
        tv: float = 0.001,
        l1: float = 100.0,
        hole_l1: float = 0.0,
        vgg_weights: WeightsSource = "imagenet",
    ) -> None:
        super().__init__()
        self.weights = dict(style=style, perceptual=perceptual, tv=tv, l1=l1, hole_l1=hole_l1)
        for name, weight in self.weights.items():
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"InpaintingLoss: weight {name} must be a finite number >= 0, got {weight!r}")
        self.vgg = VGG16Features(vgg_weights) if style or perceptual else None

    def forward(self, prediction: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
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
        if w["tv"]:
            losses["tv"] = terms.total_variation_loss(prediction)
        if w["l1"]:
            losses["l1"] = terms.l1_loss(prediction, target)
        if w["hole_l1"]:
            losses["hole_l1"] = terms.hole_l1_loss(prediction, target, mask)
        losses["total"] = sum((w[name] * value for name, value in losses.items()), prediction.new_zeros(()))
        return losses
