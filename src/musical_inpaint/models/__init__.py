"""The networks: contextual attention, the MUSICAL generator and the DenseNet discriminator."""

from musical_inpaint.imaging import composite
from musical_inpaint.models.contextual_attention import ContextualAttention
from musical_inpaint.models.discriminator import DenseNetDiscriminator
from musical_inpaint.models.generator import MusicalGenerator
from musical_inpaint.models.multi_scale_attention import MultiScaleAttention, SqueezeExcitation

__all__ = [
    "ContextualAttention",
    "DenseNetDiscriminator",
    "MultiScaleAttention",
    "MusicalGenerator",
    "SqueezeExcitation",
    "composite",
]
