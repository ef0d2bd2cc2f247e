"""Losses of the paper: style and perceptual on VGG16, TV, L1 (InpaintingLoss), and the GAN
objective (AdversarialLoss: non-saturating BCE as in the paper, or hinge; optional R1)."""

from musical_inpaint.losses.adversarial import AdversarialLoss, HingeLoss, NonSaturatingLoss
from musical_inpaint.losses.inpainting import InpaintingLoss
from musical_inpaint.losses.terms import hole_l1_loss, l1_loss, perceptual_loss, style_loss, total_variation_loss
from musical_inpaint.losses.vgg import VGG16Features, gram_matrix

__all__ = [
    "AdversarialLoss",
    "HingeLoss",
    "InpaintingLoss",
    "NonSaturatingLoss",
    "VGG16Features",
    "gram_matrix",
    "hole_l1_loss",
    "l1_loss",
    "perceptual_loss",
    "style_loss",
    "total_variation_loss",
]
