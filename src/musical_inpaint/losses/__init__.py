"""Losses of the paper: the generator's objective as named, weighted terms (InpaintingLoss over
musical_inpaint.losses.terms: style and perceptual on VGG16, TV, L1), and the GAN objective
(AdversarialLoss: non-saturating BCE as in the paper, or hinge; optional R1)."""

from musical_inpaint.losses.adversarial import AdversarialLoss, HingeLoss, NonSaturatingLoss
from musical_inpaint.losses.inpainting import InpaintingLoss, paper_terms
from musical_inpaint.losses.terms import (
    LossContext,
    hole_l1_loss,
    l1_loss,
    perceptual_loss,
    style_loss,
    total_variation_loss,
    uses_vgg,
)
from musical_inpaint.losses.vgg import VGG16Features, gram_matrix

__all__ = [
    "AdversarialLoss",
    "HingeLoss",
    "InpaintingLoss",
    "LossContext",
    "NonSaturatingLoss",
    "VGG16Features",
    "gram_matrix",
    "hole_l1_loss",
    "l1_loss",
    "paper_terms",
    "perceptual_loss",
    "style_loss",
    "total_variation_loss",
    "uses_vgg",
]
