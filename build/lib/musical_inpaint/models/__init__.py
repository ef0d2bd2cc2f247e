"""The networks: contextual attention, the MUSICAL generator and the DenseNet discriminator."""

from musical_inpaint.models.attention import ContextualAttention, MultiScaleAttention
from musical_inpaint.models.discriminator import DenseNetDiscriminator
from musical_inpaint.models.generator import MusicalGenerator, composite

__all__ = ["ContextualAttention", "DenseNetDiscriminator", "MultiScaleAttention", "MusicalGenerator", "composite"]
