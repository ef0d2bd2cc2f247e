"""MUSICAL's discriminator: DenseNet121 features and a convolutional head of patch logits."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import DenseNet121_Weights, densenet121

from musical_inpaint.backbones import WeightsSource, build_backbone, densenet_keys, imagenet_normalise


class DenseNetDiscriminator(nn.Module):
    """DenseNet121 features (ImageNet weights kept, unlike the authors' code, which re-draws
    them after loading) -> ReLU -> 3x3 conv -> B x logit_channels x H/32 x W/32 patch logits.

    The head is padded so that any input of at least 32 pixels a side works; the authors' head
    (unpadded) gives 6 x 6 instead of 8 x 8 logits at 256 x 256.

    Args:
        weights: "imagenet", a path to a torchvision densenet121 state dict, or None for random
            initialisation (see musical_inpaint.backbones).
        logit_channels: channels of the logit map (the authors' code: 256).
    """

    def __init__(self, weights: WeightsSource = "imagenet", logit_channels: int = 256) -> None:
        super().__init__()
        backbone = build_backbone(
            densenet121, DenseNet121_Weights.IMAGENET1K_V1, weights, "model.discriminator.weights", densenet_keys
        )
        self.features = backbone.features
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(backbone.classifier.in_features, logit_channels, 3, padding=1))
        nn.init.normal_(self.head[1].weight, 0.0, 0.02)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, image: Tensor) -> Tensor:
        """image: B x 3 x H x W in [-1, 1] -> logits (real > 0)."""
        return self.head(self.features(imagenet_normalise(image)))
