"""Frozen VGG16 features at pool1, pool2 and pool3 for the perceptual and style losses."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import VGG16_Weights

from musical_inpaint.backbones import ImageNetNormalise, WeightsSource, build_backbone

# torchvision's vgg16().features indices ending at pool1, pool2 and pool3.
POOL_ENDS = (5, 10, 17)


class VGG16Features(nn.Module):
    """[-1, 1] images -> the list of their VGG16 pool1, pool2, pool3 feature maps.

    The network is frozen (no gradients to its weights, always in eval mode) but differentiable
    with respect to its input. Input is ImageNet-normalised, as the weights expect (the authors'
    code fed raw [-1, 1] images).
    """

    def __init__(self, weights: WeightsSource = "imagenet") -> None:
        super().__init__()
        features = build_backbone(
            _VGG16UpToPool3, VGG16_Weights.IMAGENET1K_V1, weights, "model.loss.vgg_weights", fix_keys=_up_to_pool3
        ).features
        self.normalise = ImageNetNormalise()
        starts = (0, *POOL_ENDS[:-1])
        self.stages = nn.ModuleList(features[start:end] for start, end in zip(starts, POOL_ENDS))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        return super().train(False)  # a fixed feature extractor: never switch to training mode

    def forward(self, image: Tensor) -> list[Tensor]:
        x = self.normalise(image)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


class _VGG16UpToPool3(nn.Module):
    """torchvision's `vgg16().features[:17]`, the same layers under the same names, built without
    the rest: the classifier alone holds 120 million parameters that every run would initialise
    and never use (the cost is in benchmarks/README.md)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width, convolutions in ((64, 2), (128, 2), (256, 3)):
            for _ in range(convolutions):
                conv = nn.Conv2d(in_channels, width, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision's VGG init
                nn.init.zeros_(conv.bias)
                layers += [conv, nn.ReLU(inplace=True)]
                in_channels = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)


def _up_to_pool3(state: dict) -> dict:
    """A whole VGG16 state dict -> the parameters of its layers up to pool3 (the rest is unused)."""

    def used(key: str) -> bool:
        parts = key.split(".")
        return parts[0] != "classifier" and not (
            parts[0] == "features" and parts[1].isdigit() and int(parts[1]) >= POOL_ENDS[-1]
        )

    return {key: value for key, value in state.items() if used(key)}


def gram_matrix(features: Tensor) -> Tensor:
    """B x C x H x W -> B x C x C Gram matrix F F^T normalised by H W C (paper eq. 6 and 5)."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    # In fp32 even under mixed precision: the sums over H W overflow half precision.
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = flat.float()
        return flat @ flat.transpose(1, 2) / (channels * height * width)
