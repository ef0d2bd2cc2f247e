"""Losses of the paper: style and perceptual on VGG16, adversarial, total variation, L1."""

from musical_inpaint.losses.inpainting import InpaintingLoss
from musical_inpaint.losses.terms import (
    discriminator_loss,
    generator_adversarial_loss,
    hole_l1_loss,
    l1_loss,
    perceptual_loss,
    style_loss,
    total_variation_loss,
)
from musical_inpaint.losses.vgg import VGG16Features, gram_matrix

__all__ = [
    "InpaintingLoss",
    "VGG16Features",
    "discriminator_loss",
    "generator_adversarial_loss",
    "gram_matrix",
    "hole_l1_loss",
    "l1_loss",
    "perceptual_loss",
    "style_loss",
    "total_variation_loss",
]
