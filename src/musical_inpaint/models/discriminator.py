"""MUSICAL's discriminator: DenseNet121 features and a convolutional head of patch logits."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torchvision.models import DenseNet121_Weights, densenet121

from musical_inpaint.backbones import ImageNetNormalise, WeightsSource, build_backbone, densenet_keys


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
        self.normalise = ImageNetNormalise()
        self.features = _split_batch_norms(backbone.features)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(backbone.classifier.in_features, logit_channels, 3, padding=1))
        nn.init.normal_(self.head[1].weight, 0.0, 0.02)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, image: Tensor) -> Tensor:
        """image: B x 3 x H x W in [-1, 1] -> logits (real > 0)."""
        return self.head(self.features(self.normalise(image)))

    def pair(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(self(real), self(fake)) in one forward pass over both batches (half the layer
        launches), with the batch statistics of each batch its own, as in two passes; the running
        statistics are updated as by real's pass, then fake's. Two passes where the norms were
        converted to SyncBatchNorm (`trainer.sync_batchnorm=true`), which cannot split a batch."""
        if real.shape != fake.shape:
            raise ValueError(
                f"pair: real and fake batches must have one shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
            )
        norms = [m for m in self.modules() if isinstance(m, SplitBatchNorm2d)]
        if not norms:
            return self(real), self(fake)
        with self._groups(norms, 2):
            logits = self(torch.cat([real, fake]))
        return logits[: len(real)], logits[len(real) :]

    @staticmethod
    @contextmanager
    def _groups(norms: list[SplitBatchNorm2d], groups: int):
        for norm in norms:
            norm.groups = groups
        try:
            yield
        finally:
            for norm in norms:
                norm.groups = 1


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that, when `groups` > 1 in training, normalises each of `groups` equal parts of
    the batch with that part's statistics and updates the running statistics part after part:
    `groups` batches in one call, exactly as in as many calls (each part is one batch norm call, the
    fewest kernels there are). Its state is BatchNorm2d's, so ImageNet weights and checkpoints load
    unchanged."""

    groups = 1

    def forward(self, x: Tensor) -> Tensor:
        if self.groups == 1 or not self.training:  # evaluation uses the running statistics: per sample
            return super().forward(x)
        return torch.cat([super(SplitBatchNorm2d, self).forward(part) for part in x.chunk(self.groups)])


def _split_batch_norms(module: nn.Module) -> nn.Module:
    """The module with every BatchNorm2d replaced by a SplitBatchNorm2d holding the same state."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            split = SplitBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            split.load_state_dict(child.state_dict())
            setattr(module, name, split)
        else:
            _split_batch_norms(child)
    return module
