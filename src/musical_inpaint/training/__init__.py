"""Training: the LightningModule running MUSICAL's GAN loop and the callbacks of a run."""

from musical_inpaint.training.module import MusicalInpainting, NonFiniteLossError

__all__ = ["MusicalInpainting", "NonFiniteLossError"]
